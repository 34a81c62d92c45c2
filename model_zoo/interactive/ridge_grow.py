"""Crack masks from the ridge map: snap the click to the strongest ridge near it and flood along
the ridge while the response stays above ``keep`` x the seed's response.

Negative clicks blank a disc of the ridge map around the ridge nearest to them (so the flood cannot pass there); a box keeps the
flood inside it, and a box without a positive click seeds at its strongest ridge pixel.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import disk
from skimage.segmentation import flood

from model_zoo.interactive.image_features import ImageFeatures
from model_zoo.interactive.prompts import Box, Point

KEEP = 0.35
SNAP_FRACTION = 0.02  # search radius for the snap, as a fraction of the longer side


def snap_radius(features: ImageFeatures) -> int:
    return max(2, round(SNAP_FRACTION * max(features.ridge.shape)))


def snap(features: ImageFeatures, point: Point, radius: int | None = None) -> tuple[int, int]:
    """(row, col) of the strongest ridge pixel within ``radius`` (default: the snap radius)
    working-size pixels of ``point``."""
    ridge = features.ridge
    h, w = ridge.shape
    radius = snap_radius(features) if radius is None else radius
    x = min(w - 1, max(0, int(point[0] * features.sx)))
    y = min(h - 1, max(0, int(point[1] * features.sy)))
    y0, x0 = max(0, y - radius), max(0, x - radius)
    window = ridge[y0 : y + radius + 1, x0 : x + radius + 1]
    dy, dx = np.unravel_index(int(np.argmax(window)), window.shape)
    return y0 + int(dy), x0 + int(dx)


def ridge_strength(features: ImageFeatures, point: Point, radius: int = 2) -> float:
    """The strongest ridge response within ``radius`` px of ``point`` over the image's median."""
    row, col = snap(features, point, radius)
    return float(features.ridge[row, col]) / max(features.ridge_level, 1e-12)


def grow_ridge(
    features: ImageFeatures,
    positives: list[Point],
    negatives: list[Point],
    box: Box | None,
    keep: float = KEEP,
) -> np.ndarray:
    """Boolean mask (working size) of the ridge pixels connected to the seeds."""
    f = features
    ridge = f.ridge.copy()
    if box is not None:
        x0, y0 = int(box[0] * f.sx), int(box[1] * f.sy)
        x1, y1 = int(np.ceil(box[2] * f.sx)), int(np.ceil(box[3] * f.sy))
        outside = np.ones_like(ridge, dtype=bool)
        outside[y0:y1, x0:x1] = False
        ridge[outside] = 0
    radius = snap_radius(f)
    for point in negatives:  # blank a disc around the ridge nearest to each negative click
        ridge[disk(snap(f, point), radius, shape=ridge.shape)] = 0
    seeds = [snap(f, p) for p in positives]
    if not seeds and box is not None:
        seeds = [tuple(int(v) for v in np.unravel_index(int(np.argmax(ridge)), ridge.shape))]
    mask = np.zeros(ridge.shape, dtype=bool)
    for row, col in seeds:
        if mask[row, col] or ridge[row, col] <= 0:
            continue
        mask |= flood(ridge >= keep * ridge[row, col], (row, col))
    return mask
