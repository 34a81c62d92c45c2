"""Scores of predicted defect masks against true ones: one accumulator for every mask source.

Per class and overall (:class:`MaskScores`):

* ``iou``: mean over images of IoU(predicted mask, true mask) (an image where both are empty
  counts 1.0);
* ``pooled_iou``: the intersections over the unions summed over the images (large defects
  weigh more);
* ``precision`` / ``recall`` / ``f1``: pixel-exact, pooled;
* ``precision_tol2`` / ``recall_tol2`` / ``f1_tol2``: the crack literature's tolerant measure:
  a predicted pixel is right when a true pixel lies within ``tolerance`` (2) pixels, a true
  pixel is found when a predicted one lies within that distance (pooled; IoU alone punishes a
  one-pixel shift of a thin crack);
* ``accepted``: share of proposals (regions an annotator sees) whose IoU with the true defect
  regions (connected components) they overlap is at least 0.5: what an annotator would keep;
* ``proposals_per_image`` and ``images``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOLERANCE = 2
ACCEPT_IOU = 0.5
_COUNTS = ("iou", "n", "inter", "union", "pred", "true", "pred_near", "true_near", "props", "ok")


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a bool mask: ``(labels, count)``."""
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3), dtype=bool))


def near(mask: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels within ``tolerance`` (Euclidean) of a set pixel of ``mask``."""
    if not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    if tolerance <= 0:
        return mask.copy()
    import cv2

    r = np.arange(-tolerance, tolerance + 1)
    disk = (r[:, None] ** 2 + r[None, :] ** 2 <= tolerance**2).astype(np.uint8)
    return cv2.dilate(mask.astype(np.uint8), disk).astype(bool)


def accepted_regions(regions: Sequence[np.ndarray], truth_labels: np.ndarray) -> int:
    """How many ``regions`` (bool masks) reach IoU >= 0.5 with the union of the true
    components they overlap."""
    count = 0
    for region in regions:
        touched = np.unique(truth_labels[region])
        touched = touched[touched > 0]
        if not len(touched):
            continue
        truth = np.isin(truth_labels, touched)
        inter = np.logical_and(truth, region).sum()
        count += inter / max(1, np.logical_or(truth, region).sum()) >= ACCEPT_IOU
    return int(count)


def region_masks(mask: np.ndarray, min_area: int = 0) -> list[np.ndarray]:
    """The 8-connected components of ``mask`` with at least ``min_area`` pixels."""
    labels, count = components(mask)
    if not count:
        return []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    return [labels == i for i in range(1, count + 1) if sizes[i] >= max(1, min_area)]


class MaskScores:
    """Per-class accumulators of one mask source."""

    def __init__(self, tolerance: int = TOLERANCE):
        self.tolerance = int(tolerance)
        self.per_class: dict[str, dict[str, float]] = {}

    def add(
        self,
        cls: str,
        pred: np.ndarray,
        truth: np.ndarray,
        regions: Sequence[np.ndarray] | None = None,
        truth_labels: np.ndarray | None = None,
    ) -> None:
        """One image: ``pred``/``truth`` bool masks of the same shape; ``regions``: the
        proposals as bool masks (default: the components of ``pred``)."""
        pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
        if pred.shape != truth.shape:
            raise ValueError(f"predicted mask {pred.shape} vs true mask {truth.shape}")
        s = self.per_class.setdefault(cls, dict.fromkeys(_COUNTS, 0.0))
        inter = int(np.logical_and(pred, truth).sum())
        union = int(np.logical_or(pred, truth).sum())
        s["iou"] += inter / union if union else 1.0
        s["n"] += 1
        s["inter"] += inter
        s["union"] += union
        s["pred"] += int(pred.sum())
        s["true"] += int(truth.sum())
        s["pred_near"] += int(np.logical_and(pred, near(truth, self.tolerance)).sum())
        s["true_near"] += int(np.logical_and(truth, near(pred, self.tolerance)).sum())
        regions = region_masks(pred) if regions is None else regions
        labels = components(truth)[0] if truth_labels is None else truth_labels
        s["props"] += len(regions)
        s["ok"] += accepted_regions(regions, labels)

    @staticmethod
    def _row(s: dict[str, float]) -> dict[str, float]:
        def f1(p: float, r: float) -> float:
            return 2 * p * r / (p + r) if p + r else 0.0

        precision, recall = s["inter"] / max(1, s["pred"]), s["inter"] / max(1, s["true"])
        p_tol, r_tol = s["pred_near"] / max(1, s["pred"]), s["true_near"] / max(1, s["true"])
        return {
            "iou": s["iou"] / max(1, s["n"]),
            "pooled_iou": s["inter"] / s["union"] if s["union"] else 1.0,
            "precision": precision,
            "recall": recall,
            "f1": f1(precision, recall),
            "precision_tol2": p_tol,
            "recall_tol2": r_tol,
            "f1_tol2": f1(p_tol, r_tol),
            "accepted": s["ok"] / s["props"] if s["props"] else 0.0,
            "proposals_per_image": s["props"] / max(1, s["n"]),
            "images": int(s["n"]),
        }

    def report(self) -> dict:
        """``{"overall": row, "per_class": {class: row}}``."""
        total = dict.fromkeys(_COUNTS, 0.0)
        for s in self.per_class.values():
            for k in total:
                total[k] += s[k]
        per_class = {c: self._row(s) for c, s in sorted(self.per_class.items())}
        return {"overall": self._row(total), "per_class": per_class}
