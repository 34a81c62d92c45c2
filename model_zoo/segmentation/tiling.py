"""Full-resolution masks: the network run over an image in overlapping tiles at its input size.

A crack two pixels wide in a 4000 px drone photo vanishes when the photo is resized to one
256 px input. Here the image is first brought to a *working size* (its own size, or shrunk so
its longer side is at most ``max_side``: the bound on cost and memory; a small image, whose
shorter side is under ``min_side``, is enlarged towards it, at most ``MAX_UPSCALE`` times, so a
thin defect keeps a few pixels of width through the encoder's strided first layers), then covered by
``side x side`` tiles overlapping by ``overlap`` pixels; each tile's probabilities are weighted
by a ramp that falls towards the tile's edges (the network sees least context there) and the
weighted maps are averaged. Images smaller than one tile are padded by reflection. The
probabilities are brought back to the original size at the end (bilinear).

Cost: ``ceil((W - overlap) / (side - overlap)) x ceil((H - overlap) / (side - overlap))``
network passes at the working size, ``batch`` tiles at a time; memory: one float map per label
at the working size plus ``batch`` tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

DEFAULT_MAX_SIDE = 2048
# real 208 px wall tiles enlarged 2x: +0.02 to +0.05 mean IoU offline (docs/segmentation.md)
DEFAULT_MIN_SIDE = 416
MAX_UPSCALE = 2.0


def working_size(width: int, height: int, max_side: int, min_side: int = 0) -> tuple[int, int]:
    """The size an image is segmented at: shrunk to ``max_side`` on its longer side (0: no
    bound), or, when its shorter side is under ``min_side``, enlarged towards it (at most
    ``MAX_UPSCALE`` times, never past ``max_side``)."""
    scale = 1.0
    if min_side and min(width, height) < min_side:
        scale = min(MAX_UPSCALE, min_side / min(width, height))
    if max_side:
        scale = min(scale, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def starts(length: int, side: int, overlap: int) -> list[int]:
    """Tile origins covering ``[0, length)`` with tiles of ``side`` overlapping by at least
    ``overlap`` (the last tile flush with the end)."""
    if length <= side:
        return [0]
    step = max(1, side - overlap)
    count = math.ceil((length - side) / step) + 1
    return [min(i * step, length - side) for i in range(count)]


def tile_count(
    width: int, height: int, side: int, overlap: int, max_side: int, min_side: int = 0
) -> int:
    w, h = working_size(width, height, max_side, min_side)
    return len(starts(w, side, overlap)) * len(starts(h, side, overlap))


def ramp(side: int, overlap: int) -> np.ndarray:
    """``(side, side)`` weights: 1 inside, falling linearly over ``overlap // 2`` pixels to a
    small positive value at the edges (so a pixel covered by one tile only keeps its value)."""
    width = max(1, overlap // 2)
    edge = np.minimum(np.arange(side) + 1, np.arange(side)[::-1] + 1) / width
    line = np.clip(edge, 0.05, 1.0).astype(np.float32)
    return np.outer(line, line)


def _tiles(array: np.ndarray, side: int, overlap: int):
    """``(y, x, tile)`` of an ``(H, W, 3)`` uint8 array at least ``side`` on each side."""
    height, width = array.shape[:2]
    for y in starts(height, side, overlap):
        for x in starts(width, side, overlap):
            yield y, x, array[y : y + side, x : x + side]


def pad_to(array: np.ndarray, side: int) -> np.ndarray:
    """Reflect-pad an ``(H, W, ...)`` array to at least ``side`` on both axes (numpy repeats
    the reflection when the pad is wider than the array)."""
    height, width = array.shape[:2]
    pad_h, pad_w = max(0, side - height), max(0, side - width)
    if not pad_h and not pad_w:
        return array
    pads = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pads, mode="reflect" if min(height, width) > 1 else "edge")


def predict_tiled(
    logits: Callable[[np.ndarray], torch.Tensor],
    image: Image.Image,
    side: int,
    overlap: int,
    max_side: int = DEFAULT_MAX_SIDE,
    batch: int = 8,
    original_size: bool = True,
    min_side: int = 0,
) -> np.ndarray:
    """``(L, H, W)`` float32 probabilities of ``image`` (original size; the working size with
    ``original_size=False``). ``logits`` maps a uint8 ``(n, side, side, 3)`` batch to ``(n, L,
    side, side)`` logits."""
    width, height = image.size
    work_w, work_h = working_size(width, height, max_side, min_side)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if (work_w, work_h) != (width, height):
        rgb = rgb.resize((work_w, work_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    array = pad_to(np.asarray(rgb), side)
    weight = ramp(side, overlap)
    total, norm = None, np.zeros(array.shape[:2], dtype=np.float32)
    pending: list[tuple[int, int, np.ndarray]] = []

    def flush():
        nonlocal total
        probs = torch.sigmoid(logits(np.stack([t for _, _, t in pending]))).numpy()
        if total is None:
            total = np.zeros((probs.shape[1], *array.shape[:2]), dtype=np.float32)
        for (y, x, _), p in zip(pending, probs, strict=True):
            total[:, y : y + side, x : x + side] += p * weight
            norm[y : y + side, x : x + side] += weight
        pending.clear()

    for item in _tiles(array, side, overlap):
        pending.append(item)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    maps = (total / np.maximum(norm, 1e-6))[:, :work_h, :work_w]
    if not original_size or (work_w, work_h) == (width, height):
        return np.ascontiguousarray(maps)
    import cv2

    return np.stack(
        [cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps]
    ).astype(np.float32)
