"""One classifier pass per request serves every control reading the same classifier.

A control that reads the defect classifier says what it needs with ``pass_request()``: the
classifier, for CAM masks a :class:`~model_zoo.cam.pipeline.CamConfig` and the classes to
explain. :func:`run_shared_passes` groups the requests of one ``/predict`` batch by classifier
and image key and, where a group asks for masks, runs
:func:`model_zoo.cam.pipeline.classify_and_segment` once: its probabilities serve the
``<Choices>`` and its maps the ``<BrushLabels>``. A ``<Choices>`` keeps its own pass when the
masks are asked for at an input size other than the model's (its probabilities never depend on
the brush tag's options); a second mask control with different options gets its own pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model_zoo.cam.pipeline import CamConfig, Segmentation, classify_and_segment
from model_zoo.classifier.decision import ClassDecision
from model_zoo.classifier.model import ImageClassifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassRequest:
    classifier: ImageClassifier
    cam_config: CamConfig | None = None  # None: probabilities only (Choices)
    classes: tuple[int, ...] | None = None  # classes to explain (None: all)
    decision: ClassDecision | None = None  # which of them each image shows (None: threshold)


def _run(request: PassRequest, classes, images: Sequence[Image.Image], batch: int):
    """:func:`classify_and_segment` in chunks of ``batch`` images, joined."""
    probs, masks = [], []
    for start in range(0, len(images), max(1, batch)):
        part = classify_and_segment(
            request.classifier,
            images[start : start + batch],
            request.cam_config,
            classes,
            present=request.decision.present if request.decision is not None else None,
        )
        probs.append(part.probabilities)
        masks.extend(part.masks)
    return Segmentation(np.concatenate(probs, axis=0), masks)


def _serves_choices(request: PassRequest) -> bool:
    size = request.cam_config.input_size
    return not size or int(size) == request.classifier.input_size


def run_shared_passes(
    requests: Sequence[tuple[PassRequest | None, str]],
    images_for,
    batch: int = 16,
) -> list[Segmentation | None]:
    """For each ``(request, image key)``, the shared pass it may use (None: run its own).

    ``images_for(image_key)`` gives the batch's images for that key.
    """
    out: list[Segmentation | None] = [None] * len(requests)
    groups: dict[tuple[int, str], list[int]] = {}
    for index, (request, key) in enumerate(requests):
        if request is not None:
            groups.setdefault((id(request.classifier), key), []).append(index)
    for (_, key), members in groups.items():
        masked = [i for i in members if requests[i][0].cam_config is not None]
        if not masked:
            continue  # Choices alone: the handler's own pass is the only one
        lead = requests[masked[0]][0]
        if "sam" in lead.cam_config.refine:
            continue  # the SAM refinement needs the handler's model: no sharing
        same = [
            i
            for i in masked
            if requests[i][0].cam_config == lead.cam_config
            and requests[i][0].decision == lead.decision
        ]
        classes = sorted({c for i in same for c in (requests[i][0].classes or ())}) or None
        shared = _run(lead, classes, images_for(key), batch)
        for i in same:
            out[i] = shared
        if _serves_choices(lead):
            for i in members:
                if requests[i][0].cam_config is None:
                    out[i] = shared
        log.debug("shared pass for %d controls on %r", len(same), key)
    return out
