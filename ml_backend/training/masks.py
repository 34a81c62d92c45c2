"""Submitted ``<BrushLabels>`` masks -> segmentation training samples, with per-task problems.

For each training example (newest annotation of a task) the brush regions of the BrushLabels
tag are decoded (the SDK's RLE codec) and united per label. A region whose RLE does not decode,
whose ``original_width``/``original_height`` differ from the downloaded image, or that is
empty, is left out and reported for its task; none of these stops the round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image

from ml_backend.controls.brush import decode_mask
from model_zoo.segmentation import SegmentationSample


def _region_mask(item: dict, image: Image.Image) -> np.ndarray:
    """The bool mask of one brush region (ValueError saying what is wrong with it)."""
    value = item.get("value") or {}
    width, height = image.size
    ow, oh = item.get("original_width"), item.get("original_height")
    if ow is not None and oh is not None and (int(ow), int(oh)) != (width, height):
        raise ValueError(f"mask is {ow}x{oh}, the image {width}x{height}")
    if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
        raise ValueError("no RLE in the region's value")
    try:
        mask = decode_mask(value["rle"], height, width)
    except Exception as exc:  # the SDK's decoder raises anything on garbage
        raise ValueError(f"RLE does not decode: {exc}") from None
    if not mask.any():
        raise ValueError("empty mask")
    return mask


def sample_from_annotation(
    task_id: int, image: Image.Image, brush: Iterable[dict], control: str, labels: Sequence[str]
) -> tuple[SegmentationSample | None, list[str]]:
    """The sample of one task (None when no region of ``control`` was usable) and its problems."""
    known = set(labels)
    masks: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for item in brush:
        if item.get("from_name") != control:
            continue
        names = (item.get("value") or {}).get("brushlabels") or []
        label = next((n for n in names if n in known), None)
        if label is None:
            problems.append(f"region with labels {names} not in <BrushLabels name={control!r}>")
            continue
        try:
            mask = _region_mask(item, image)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
            continue
        masks[label] = masks[label] | mask if label in masks else mask
    if not masks:
        return None, problems
    return SegmentationSample(image=image, masks=masks, key=str(task_id)), problems
