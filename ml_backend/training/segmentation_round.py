"""The segmentation part of a training round: learn masks from the submitted BrushLabels.

Trains :mod:`model_zoo.segmentation` on the masked images of the round, scores the CAM
proposals of the round's new classifier on the same hold-out masks, and returns the model (or
None) with a record for the version's meta: both hold-out IoUs, which source serves and why,
and the per-task mask problems. Fewer masked images than ``SEGMENTATION_MIN_MASKS`` skip it
with a message. The caller catches any crash, so the classifier's version stays valid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ml_backend.training.masks import sample_from_annotation
from model_zoo.segmentation import (
    SegmentationModel,
    SegTrainConfig,
    iou_per_label,
    mean_iou,
    train_segmentation,
)
from model_zoo.segmentation.cam_score import cam_masks
from model_zoo.segmentation.switch import choose_mask_source

log = logging.getLogger(__name__)

SEGMENTATION_FOLDER = "segmentation"


@dataclass
class AnnotatedImage:
    """An image of the round with the BrushLabels result items its annotation submitted."""

    image: Any  # PIL image
    task_id: int
    brush: list[dict]


def _cam_holdout_iou(brush_handler, classifier, held) -> dict:
    mapping = brush_handler.label_map(classifier.classes)
    label_of_class = {i: label for label, indices in mapping.items() for i in indices}
    if not label_of_class:
        return {label: None for label in brush_handler.labels}
    found = cam_masks(classifier, [s.image for s in held], brush_handler.cam_config, label_of_class)
    return iou_per_label(found, [s.masks for s in held], brush_handler.labels)


def train_round_segmentation(
    settings, brush_handler, classifier, examples: Sequence[AnnotatedImage]
) -> tuple[SegmentationModel | None, dict]:
    """``examples``: the round's annotated tasks (an empty ``brush``: no mask submitted)."""
    control = brush_handler.control.name
    labels = list(brush_handler.labels)
    samples, problems = [], {}
    for example in examples:
        sample, issues = sample_from_annotation(
            example.task_id, example.image, example.brush, control, labels
        )
        if issues:
            problems[str(example.task_id)] = issues
        if sample is not None:
            samples.append(sample)
    record = {"control": control, "masked_images": len(samples), "mask_problems": problems}
    if len(samples) < settings.segmentation_min_masks:
        message = (
            f"{len(samples)} masked image(s) for <BrushLabels name={control!r}>; the segmentation "
            f"model needs {settings.segmentation_min_masks}: this round trains the classifier only"
        )
        log.info(message)
        return None, {**record, "status": "skipped", "reason": message}
    config = SegTrainConfig(
        encoder=settings.segmentation_encoder,
        epochs=settings.segmentation_epochs,
        input_size=settings.segmentation_input_size,
        device=settings.device,
        min_samples=settings.segmentation_min_masks,
    )
    model = train_segmentation(samples, labels, config)
    held = [s for s in samples if s.key in set(model.meta["holdout_keys"])]
    cam_iou = _cam_holdout_iou(brush_handler, classifier, held)
    seg_mean, cam_mean = model.meta["holdout_mean_iou"], mean_iou(cam_iou)
    choice = choose_mask_source(seg_mean, cam_mean)
    log.info("segmentation hold-out IoU %s, CAM %s: %s serves", seg_mean, cam_mean, choice.source)
    return model, {
        **record,
        "status": "trained",
        "folder": SEGMENTATION_FOLDER,
        "encoder": model.encoder,
        "holdout_iou": model.meta["holdout_iou"],
        "holdout_mean_iou": seg_mean,
        "cam_holdout_iou": cam_iou,
        "cam_holdout_mean_iou": cam_mean,
        "holdout_tasks": model.meta["holdout_keys"],
        "epochs_run": model.meta["epochs_run"],
        "serves": choice.as_dict(),
    }
