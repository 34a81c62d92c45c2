"""Scores of mask proposals against ground-truth masks (``eval-cam``), and the naive baselines.

* ``iou``: mean over images of IoU(union of proposals, ground-truth mask);
* ``precision`` / ``recall``: pixel precision and recall pooled over the class's images;
* ``accepted``: share of proposals an annotator would accept — IoU >= 0.5 with the ground-truth
  defect regions (connected components) it overlaps;
* ``proposals``: proposals per image.

Baselines (``BASELINES``): ``whole-image`` (one proposal covering everything), ``centre-box``
(the central box of half the image's area) and ``intensity`` (pixels whose grey level is far
from the median, by Otsu's threshold, cleaned up like CAM proposals).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from model_zoo.cam.proposals import Proposal, proposals

BASELINES = ("whole-image", "centre-box", "intensity")


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3), dtype=bool))


def accepted(prop: Proposal, gt_labels: np.ndarray, threshold: float = 0.5) -> bool:
    """IoU >= threshold with the union of ground-truth components the proposal overlaps."""
    x0, y0, x1, y1 = prop.box
    touched = np.unique(gt_labels[y0:y1, x0:x1][prop.crop])
    touched = touched[touched > 0]
    if not len(touched):
        return False
    gt = np.isin(gt_labels, touched)
    pred = prop.full_mask()
    inter = np.logical_and(gt, pred).sum()
    return inter / max(1, np.logical_or(gt, pred).sum()) >= threshold


class Scores:
    """Per-class accumulators of one method."""

    def __init__(self):
        self.per_class: dict[str, dict[str, float]] = {}

    def add(self, cls: str, pred: np.ndarray, gt: np.ndarray, props: list[Proposal], gt_labels):
        s = self.per_class.setdefault(
            cls, {"iou": 0.0, "n": 0, "tp": 0, "fp": 0, "fn": 0, "props": 0, "accepted": 0}
        )
        inter = int(np.logical_and(pred, gt).sum())
        union = int(np.logical_or(pred, gt).sum())
        s["iou"] += inter / union if union else 1.0
        s["n"] += 1
        s["tp"] += inter
        s["fp"] += int(pred.sum()) - inter
        s["fn"] += int(gt.sum()) - inter
        s["props"] += len(props)
        s["accepted"] += sum(accepted(p, gt_labels) for p in props)

    @staticmethod
    def _row(s: dict[str, float]) -> dict[str, float]:
        return {
            "iou": s["iou"] / max(1, s["n"]),
            "precision": s["tp"] / max(1, s["tp"] + s["fp"]),
            "recall": s["tp"] / max(1, s["tp"] + s["fn"]),
            "accepted": s["accepted"] / s["props"] if s["props"] else 0.0,
            "proposals_per_image": s["props"] / max(1, s["n"]),
            "images": int(s["n"]),
        }

    def report(self) -> dict:
        total = {k: 0.0 for k in ("iou", "n", "tp", "fp", "fn", "props", "accepted")}
        for s in self.per_class.values():
            for k in total:
                total[k] += s[k]
        per_class = {c: self._row(s) for c, s in sorted(self.per_class.items())}
        overall = self._row(total)
        overall["class_mean_iou"] = float(np.mean([r["iou"] for r in per_class.values()]))
        return {"overall": overall, "per_class": per_class}


def baseline_proposals(name: str, image: Image.Image, min_area: int) -> list[Proposal]:
    width, height = image.size
    if name == "whole-image":
        box = (0, 0, width, height)
        crop = np.ones((height, width), dtype=bool)
        return [Proposal(box, crop, 1.0, (width // 2, height // 2), (width, height))]
    if name == "centre-box":
        bw, bh = round(width / np.sqrt(2)), round(height / np.sqrt(2))
        x0, y0 = (width - bw) // 2, (height - bh) // 2
        crop = np.ones((bh, bw), dtype=bool)
        return [
            Proposal(
                (x0, y0, x0 + bw, y0 + bh), crop, 1.0, (width // 2, height // 2), (width, height)
            )
        ]
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    deviation = np.abs(grey - np.median(grey))
    if deviation.max() > 0:
        deviation = deviation / deviation.max()
    return proposals(deviation, width, height, "otsu", min_area=min_area)
