"""The segmentation part of a training round: learn masks from corrections, or from image labels.

With at least ``SEGMENTATION_MIN_MASKS`` submitted masks, trains :mod:`model_zoo.segmentation`
on them (and on as many images labeled without a masked defect, as background), scores the
CAM proposals of the round's new classifier on the same hold-out masks, and serves whichever is
better. With fewer (``WEAK_SEGMENTATION``, default on), trains the weakly supervised model
(:mod:`model_zoo.segmentation.weak`: pseudo-masks from the classifier's CAMs of the labeled
defect images); it serves when it beats CAM on the masks there are, or by default when there
are none (it measured better than CAM on real photos: :data:`WEAK_BY_DEFAULT`). Pseudo-masks
with nothing usable leave CAM serving, and the record says so. The record (for the version's
meta) holds both IoUs, which source serves and why, what the model was trained on, and the
per-task mask problems. The caller catches any crash, so the classifier's version stays valid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_backend.training.masks import sample_from_annotation
from model_zoo.segmentation import (
    SegmentationModel,
    SegmentationSample,
    SegTrainConfig,
    iou_per_label,
    mean_iou,
    train_segmentation,
)
from model_zoo.segmentation.cam_score import cam_masks
from model_zoo.segmentation.switch import MaskSourceChoice, choose_mask_source
from model_zoo.segmentation.weak import WeakConfig, train_weak_segmentation

log = logging.getLogger(__name__)

SEGMENTATION_FOLDER = "segmentation"
WEAK_BY_DEFAULT = (
    "weakly supervised model (image labels only), no corrected mask to compare it with yet: it "
    "serves by default, as it beat CAM on real wall photos (eval-masks, docs/segmentation.md)"
)


@dataclass
class AnnotatedImage:
    """An image of the round with the BrushLabels result items its annotation submitted and its
    classes (the classifier's class names it was labeled with)."""

    image: Any  # PIL image
    task_id: int
    brush: list[dict]
    classes: list[str] = field(default_factory=list)


def _label_of_class(brush_handler, classifier) -> dict[int, str]:
    mapping = brush_handler.label_map(classifier.classes)
    return {i: label for label, indices in mapping.items() for i in indices}


def _cam_iou(brush_handler, classifier, held) -> dict:
    label_of_class = _label_of_class(brush_handler, classifier)
    if not label_of_class:
        return {label: None for label in brush_handler.labels}
    found = cam_masks(classifier, [s.image for s in held], brush_handler.cam_config, label_of_class)
    return iou_per_label(found, [s.masks for s in held], brush_handler.labels)


def _model_iou(model: SegmentationModel, held) -> dict:
    found = model.predict_masks([s.image for s in held])
    return iou_per_label(found, [s.masks for s in held], model.labels)


def _masked_samples(examples, control: str, labels: list[str]):
    samples, problems = [], {}
    for example in examples:
        sample, issues = sample_from_annotation(
            example.task_id, example.image, example.brush, control, labels
        )
        if issues:
            problems[str(example.task_id)] = issues
        if sample is not None:
            samples.append(sample)
    return samples, problems


def _background(examples, mapped: set[str], most: int) -> list[SegmentationSample]:
    """Images labeled only with classes that have no mask label, without any brush region:
    all background (at most ``most``, spread over the round)."""
    found = [
        SegmentationSample(e.image, {}, key=str(e.task_id))
        for e in examples
        if e.classes and not e.brush and not set(e.classes) & mapped
    ]
    if len(found) <= most:
        return found
    keep = np.linspace(0, len(found) - 1, num=most).round().astype(int)
    return [found[i] for i in sorted(set(keep.tolist()))]


def _seg_config(settings, **changes) -> SegTrainConfig:
    return SegTrainConfig(
        encoder=settings.segmentation_encoder,
        input_size=settings.segmentation_input_size,
        min_side=settings.segmentation_min_side,
        device=settings.device,
        **changes,
    )


def train_round_segmentation(
    settings, brush_handler, classifier, examples: Sequence[AnnotatedImage]
) -> tuple[SegmentationModel | None, dict]:
    """``examples``: the round's annotated tasks (an empty ``brush``: no mask submitted)."""
    control = brush_handler.control.name
    labels = list(brush_handler.labels)
    samples, problems = _masked_samples(examples, control, labels)
    record = {"control": control, "masked_images": len(samples), "mask_problems": problems}
    if len(samples) >= settings.segmentation_min_masks:
        return _corrected(settings, brush_handler, classifier, examples, samples, record)
    message = (
        f"{len(samples)} masked image(s) for <BrushLabels name={control!r}>; the segmentation "
        f"model on corrected masks needs {settings.segmentation_min_masks}"
    )
    if not settings.weak_segmentation or classifier is None:
        reason = f"{message}: this round trains the classifier only"
        log.info(reason)
        return None, {**record, "status": "skipped", "reason": reason}
    return _weak(settings, brush_handler, classifier, examples, samples, record)


def _continued(brush_handler, config: SegTrainConfig) -> SegmentationModel | None:
    """The live version's segmentation model (weak or corrected) when it fits this round (same
    labels, encoder and tile side): the round continues it, as it continues the classifier."""
    try:
        live = brush_handler.models.live_model(brush_handler.project)
        folder = live / SEGMENTATION_FOLDER if live else None
        if folder is None or not (folder / "segmentation.json").is_file():
            return None
        model = brush_handler.models.segmentation(folder)
    except Exception:  # an unreadable old model: start over from ImageNet
        log.exception("the live segmentation model cannot be continued; starting over")
        return None
    fits = (
        model.labels == list(brush_handler.labels)
        and model.encoder == config.encoder
        and model.mode == "tiles"
        and model.input_size == (config.input_size or model.input_size)
    )
    return model if fits else None


def _corrected(settings, brush_handler, classifier, examples, samples, record):
    classes = classifier.classes if classifier is not None else []
    mapped = {classes[i] for i in _label_of_class(brush_handler, classifier)} if classes else set()
    background = _background(examples, mapped, len(samples))
    config = _seg_config(
        settings, epochs=settings.segmentation_epochs, min_samples=settings.segmentation_min_masks
    )
    start = _continued(brush_handler, config)
    model = train_segmentation(
        samples + background, list(brush_handler.labels), config, start=start
    )
    held = [s for s in samples if s.key in set(model.meta["holdout_keys"])]
    cam_iou = _cam_iou(brush_handler, classifier, held)
    seg_mean, cam_mean = model.meta["holdout_mean_iou"], mean_iou(cam_iou)
    choice = choose_mask_source(seg_mean, cam_mean)
    log.info("segmentation hold-out IoU %s, CAM %s: %s serves", seg_mean, cam_mean, choice.source)
    return model, {
        **record,
        "status": "trained",
        "trained_on": f"{len(samples)} corrected masks and {len(background)} background images"
        + (", continuing the live segmentation model" if start is not None else ""),
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


def _weak_examples(examples, label_of: dict[str, str], most: int):
    """``(image, classes)`` of the labeled examples, at most ``most`` per first class."""
    taken: dict[str, int] = {}
    out = []
    for e in examples:
        if not e.classes:
            continue
        first = e.classes[0]
        if taken.get(first, 0) < most:
            taken[first] = taken.get(first, 0) + 1
            out.append((e.image, list(e.classes)))
    return out


def _weak(settings, brush_handler, classifier, examples, samples, record):
    """The weakly supervised model, scored against CAM on the few masks there are."""
    label_of = {classifier.classes[i]: lab for i, lab in _label_of_class(brush_handler, classifier).items()}  # fmt: skip
    rows = _weak_examples(examples, label_of, settings.weak_segmentation_images)
    config = WeakConfig(
        segmentation=_seg_config(
            settings,
            epochs=settings.weak_segmentation_epochs,
            holdout_fraction=0.0,
            min_samples=2,
        )
    )
    labels = list(brush_handler.labels)
    model, weak = train_weak_segmentation(classifier, rows, labels, config, label_of)
    weak = {k: v for k, v in weak.items() if k != "config"}
    if model is None:
        log.info("weakly supervised segmentation: %s", weak["reason"])
        return None, {**record, "status": "unusable", "reason": weak["reason"], "weak": weak}
    seg_mean = cam_mean = None
    if samples:
        seg_mean = mean_iou(_model_iou(model, samples))
        cam_mean = mean_iou(_cam_iou(brush_handler, classifier, samples))
        choice = choose_mask_source(seg_mean, cam_mean)
    else:
        choice = MaskSourceChoice("segmentation", WEAK_BY_DEFAULT)
    log.info("weak segmentation IoU %s, CAM %s: %s serves", seg_mean, cam_mean, choice.source)
    return model, {
        **record,
        "status": "trained",
        "trained_on": f"image labels only (weakly supervised): {weak['reason']}",
        "folder": SEGMENTATION_FOLDER,
        "encoder": model.encoder,
        "holdout_mean_iou": seg_mean,
        "cam_holdout_mean_iou": cam_mean,
        "holdout_tasks": [s.key for s in samples],
        "serves_by_default": WEAK_BY_DEFAULT if not samples else None,
        "weak": weak,
        "serves": choice.as_dict(),
    }
