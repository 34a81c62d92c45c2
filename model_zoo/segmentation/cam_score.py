"""CAM proposals as masks per label, to score them on the same hold-out as the segmentation
model (:func:`model_zoo.segmentation.metrics.iou_per_label`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from model_zoo.cam.pipeline import CamConfig, segment


def cam_masks(
    classifier,
    images: Sequence[Image.Image],
    config: CamConfig,
    label_of_class: Mapping[int, str],
) -> list[dict[str, np.ndarray]]:
    """Per image, ``{label: union of the CAM proposals of the classes mapped to it}`` (bool, at
    the image's size), exactly as the CAM brush handler would propose them."""
    found = segment(classifier, images, config, classes=sorted(label_of_class))
    out = []
    for image, per_image in zip(images, found, strict=True):
        width, height = image.size
        masks: dict[str, np.ndarray] = {}
        for class_masks in per_image:
            label = label_of_class[class_masks.class_index]
            union = masks.setdefault(label, np.zeros((height, width), dtype=bool))
            for proposal in class_masks.proposals:
                union |= proposal.full_mask()
        out.append(masks)
    return out
