"""IoU of predicted against true masks, per label, over a set of images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def iou_per_label(
    predicted: Sequence[Mapping[str, np.ndarray]],
    truth: Sequence[Mapping[str, np.ndarray]],
    labels: Sequence[str],
) -> dict[str, float | None]:
    """Pooled IoU per label: the intersections over the unions summed over all images.

    ``predicted[i]`` and ``truth[i]`` map a label to a bool mask of image ``i`` (a missing
    label is an empty mask). A label that is empty in every prediction and every truth gets
    None (nothing to score), so that a label nobody drew does not count as a perfect 1.0.
    """
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} true masks")
    out: dict[str, float | None] = {}
    for label in labels:
        inter = union = 0
        for pred, true in zip(predicted, truth, strict=True):
            p, t = pred.get(label), true.get(label)
            if p is None and t is None:
                continue
            if p is None:
                p = np.zeros_like(t, dtype=bool)
            if t is None:
                t = np.zeros_like(p, dtype=bool)
            if p.shape != t.shape:
                raise ValueError(f"label {label!r}: predicted {p.shape} vs true {t.shape} mask")
            inter += int(np.logical_and(p, t).sum())
            union += int(np.logical_or(p, t).sum())
        out[label] = inter / union if union else None
    return out


def mean_iou(per_label: Mapping[str, float | None]) -> float | None:
    """Mean over the labels that could be scored (None when none could)."""
    values = [v for v in per_label.values() if v is not None]
    return float(np.mean(values)) if values else None
