"""Blob masks from superpixels: grow from the clicked superpixels over neighbours of like colour.

A click selects its superpixel; the region grows breadth-first to adjacent superpixels whose mean
CIELAB colour is within ``tolerance`` of the seeds' mean colour (a small tolerance: it merges
segments that the segmentation split, not neighbouring textures; on the synthetic defects of
:mod:`model_zoo.data.synth` any wider growth lowered the IoU). Negative clicks make their superpixel a
wall; a box keeps the region to the superpixels at least half inside it, cut at the box. A box without a
positive click seeds with the superpixels inside it whose colour differs by more than
``contrast`` from the ring of superpixels just around it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from model_zoo.interactive.image_features import ImageFeatures
from model_zoo.interactive.prompts import Box, Point

TOLERANCE = 4.0  # CIELAB units
CONTRAST = 10.0


def superpixel_at(features: ImageFeatures, point: Point) -> int:
    h, w = features.superpixels.shape
    x = min(w - 1, max(0, int(point[0] * features.sx)))
    y = min(h - 1, max(0, int(point[1] * features.sy)))
    return int(features.superpixels[y, x])


def grow_blob(
    features: ImageFeatures,
    positives: list[Point],
    negatives: list[Point],
    box: Box | None,
    tolerance: float = TOLERANCE,
    contrast: float = CONTRAST,
) -> np.ndarray:
    """Boolean mask (working size) of the grown region."""
    f = features
    allowed = np.ones(len(f.colours), dtype=bool)
    if box is not None:
        allowed = _inside(f, box)
    walls = {superpixel_at(f, p) for p in negatives}
    allowed[list(walls)] = False
    seeds = {superpixel_at(f, p) for p in positives} - walls
    if not seeds and box is not None:
        seeds = _box_seeds(f, allowed, contrast)
    if not seeds:
        return np.zeros(f.superpixels.shape, dtype=bool)
    reference = f.colours[list(seeds)].mean(axis=0)
    chosen = np.zeros(len(f.colours), dtype=bool)
    chosen[list(seeds)] = True
    queue = deque(seeds)
    while queue:
        for nb in f.neighbours(queue.popleft()):
            if chosen[nb] or not allowed[nb]:
                continue
            if np.linalg.norm(f.colours[nb] - reference) <= tolerance:
                chosen[nb] = True
                queue.append(int(nb))
    mask = chosen[f.superpixels]
    if box is not None:
        rows, cols = _box_slices(f, box)
        cut = np.zeros_like(mask)
        cut[rows, cols] = mask[rows, cols]
        mask = cut
    return mask


def _box_slices(features: ImageFeatures, box: Box) -> tuple[slice, slice]:
    f = features
    x0, y0 = int(box[0] * f.sx), int(box[1] * f.sy)
    x1, y1 = int(np.ceil(box[2] * f.sx)), int(np.ceil(box[3] * f.sy))
    return slice(y0, max(y0 + 1, y1)), slice(x0, max(x0 + 1, x1))


def _inside(features: ImageFeatures, box: Box) -> np.ndarray:
    """Superpixels with at least half of their pixels inside the box."""
    rows, cols = _box_slices(features, box)
    inside = np.bincount(features.superpixels[rows, cols].ravel(), minlength=len(features.sizes))
    return inside >= 0.5 * features.sizes


def _box_seeds(features: ImageFeatures, inside: np.ndarray, contrast: float) -> set[int]:
    """Superpixels inside the box whose colour is far from the ring around it."""
    f = features
    ring = np.zeros(len(f.colours), dtype=bool)
    for i in np.flatnonzero(inside):
        ring[f.neighbours(i)] = True
    ring &= ~inside
    # a box over the whole image has no ring: compare with the image's mean colour then
    background = f.colours[ring if ring.any() else slice(None)].mean(axis=0)
    far = inside & (np.linalg.norm(f.colours - background, axis=1) > contrast)
    return {int(i) for i in np.flatnonzero(far)}
