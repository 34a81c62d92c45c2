"""Masks for the defect ``<BrushLabels>`` from the segmentation model, and region measures.

A live version trained on submitted masks holds a segmentation model (``segmentation/``) and,
in its meta, its hold-out IoU and that of the CAM proposals. The tag attribute
``model_mask_source="auto|cam|segmentation"`` (default auto) decides, with
:func:`model_zoo.segmentation.switch.choose_mask_source`: auto serves the segmentation model
once its hold-out IoU beats CAM's. Each region carries its measures (length, widths, area) in
``meta.text``, which Label Studio shows on the region; ``model_mm_per_pixel`` adds millimetres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_backend.controls.brush import brush_region
from ml_backend.controls.label_config import LabelConfigError, tag_option
from model_zoo.measure import check_scale, measure_region
from model_zoo.segmentation import regions_from_probabilities
from model_zoo.segmentation.switch import MaskSourceChoice, check_mask_source, choose_mask_source

SEGMENTATION_FOLDER = "segmentation"


def forced_source(handler) -> str:
    value = tag_option(handler.control, "model_mask_source", "auto")
    try:
        return check_mask_source(value)
    except ValueError as exc:
        raise LabelConfigError(f'<BrushLabels name="{handler.control.name}">: {exc}') from None


def mm_per_pixel(handler) -> float | None:
    value = tag_option(handler.control, "model_mm_per_pixel", None)
    try:
        return check_scale(value)
    except ValueError as exc:
        raise LabelConfigError(f'<BrushLabels name="{handler.control.name}">: {exc}') from None


def mask_source(handler) -> tuple[MaskSourceChoice, Path | None]:
    """Which source serves ``handler``'s masks, and the segmentation folder when it is that."""
    live = handler.models.live_model(handler.project)
    record = handler.models.store.meta(live).get("segmentation", {}) if live else {}
    folder = live / SEGMENTATION_FOLDER if live else None
    available = bool(folder and (folder / "segmentation.json").is_file())
    choice = choose_mask_source(
        record.get("holdout_mean_iou"),
        record.get("cam_holdout_mean_iou"),
        forced_source(handler),
        available,
        by_default=record.get("serves_by_default"),
    )
    return choice, (folder if choice.source == "segmentation" else None)


def measured_region(handler, mask: np.ndarray, label: str, score: float, scale: float | None):
    """A brush region whose ``meta.text`` gives the region's measures."""
    measures = measure_region(mask, scale)
    return brush_region(handler, mask, label, score, meta={"text": [measures.describe()]})


def segmentation_regions(handler, folder: Path, images) -> list[list]:
    """One region per connected component of each label's thresholded probability map,
    scored by its mean probability."""
    model = handler.models.segmentation(folder)
    scale = mm_per_pixel(handler)
    min_area = int(handler.cam_config.min_area)
    out = []
    for maps in model.predict(images):
        regions = []
        for label, probability in maps.items():
            if label not in handler.labels:
                continue
            for found in regions_from_probabilities(
                probability, model.threshold, min_area, group=None
            ):
                regions.append(measured_region(handler, found.mask, label, found.score, scale))
        out.append(regions)
    return out


def mask_source_of(version_meta: dict) -> dict:
    """What a version's defect masks come from with ``model_mask_source="auto"``, and why
    (for ``/health`` and ``/versions``; a tag attribute may still force one)."""
    record = version_meta.get("segmentation") or {}
    serves = record.get("serves")
    if serves:
        return {
            **serves,
            "segmentation_status": record.get("status"),
            "trained_on": record.get("trained_on"),
        }
    reason = record.get("reason") or record.get("error") or "no segmentation model trained yet"
    return {
        "source": "cam",
        "reason": reason,
        "segmentation_status": record.get("status"),
        "trained_on": None,
    }
