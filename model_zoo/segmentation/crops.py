"""Training crops at the resolution the network predicts at (see :mod:`.tiling`).

Each sample is brought once to its working size (its own, or shrunk to ``max_side``) with a
soft target per label (area-resized, so a one-pixel crack becomes a fractional target, not
nothing) and a mask of ignored pixels (the band of a pseudo-mask the network must not learn
from). Every epoch draws ``side x side`` crops from them: ``defect_share`` of the crops of a
sample with foreground are centred (with jitter) on a random foreground pixel, so a crack of 2
% of the pixels is not a rare sight; the others anywhere. A sample smaller than a crop is
padded by reflection, its padding ignored. Targets come out as floats in ``[0, 1]`` with
:data:`IGNORE` on ignored pixels (the losses skip them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from model_zoo.segmentation.data import IMAGENET_MEAN, IMAGENET_STD, SegmentationSample
from model_zoo.segmentation.tiling import pad_to, working_size

IGNORE = -1.0


@dataclass
class Prepared:
    """One sample at its working size: uint8 ``(h, w, 3)``, float ``(L, h, w)`` targets in
    [0, 1] with :data:`IGNORE` on ignored pixels, and the foreground pixels ``(k, 2)``."""

    image: np.ndarray
    target: np.ndarray
    foreground: np.ndarray


def _resize_float(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    m = np.asarray(mask, dtype=np.float32)
    if m.shape[::-1] == size:
        return m
    return cv2.resize(m, size, interpolation=cv2.INTER_AREA)


def prepare(
    sample: SegmentationSample, labels: Sequence[str], max_side: int, min_side: int = 0
) -> Prepared:
    width, height = sample.image.size
    size = working_size(width, height, max_side, min_side)
    rgb = sample.image.convert("RGB")
    if size != (width, height):
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    target = np.zeros((len(labels), size[1], size[0]), dtype=np.float32)
    for j, label in enumerate(labels):
        mask = sample.masks.get(label)
        if mask is not None and np.any(mask):
            target[j] = _resize_float(mask, size)
    if sample.ignore is not None and np.any(sample.ignore):
        target[:, _resize_float(sample.ignore, size) >= 0.5] = IGNORE
    fg = np.argwhere((target > 0.5).any(axis=0))
    return Prepared(np.asarray(rgb, dtype=np.uint8), target, fg)


def crops_per_sample(prepared: Prepared, side: int, most: int) -> int:
    """About as many crops as it takes to cover the sample once, at most ``most``."""
    h, w = prepared.image.shape[:2]
    return max(1, min(int(most), math.ceil(h / side) * math.ceil(w / side)))


def _origin(length: int, side: int, centre: int | None, rng: np.random.Generator) -> int:
    if length <= side:
        return 0
    if centre is None:
        return int(rng.integers(0, length - side + 1))
    jitter = int(rng.integers(-side // 4, side // 4 + 1))
    return int(np.clip(centre - side // 2 + jitter, 0, length - side))


def crop(prepared: Prepared, side: int, rng: np.random.Generator, on_defect: bool):
    """One ``(side, side, 3)`` uint8 crop and its ``(L, side, side)`` target."""
    h, w = prepared.image.shape[:2]
    cy = cx = None
    if on_defect and len(prepared.foreground):
        cy, cx = prepared.foreground[int(rng.integers(len(prepared.foreground)))]
    y, x = _origin(h, side, cy, rng), _origin(w, side, cx, rng)
    image = prepared.image[y : y + side, x : x + side]
    target = prepared.target[:, y : y + side, x : x + side]
    if image.shape[0] < side or image.shape[1] < side:
        image = pad_to(image, side)
        padded = np.full((target.shape[0], side, side), IGNORE, dtype=np.float32)
        padded[:, : target.shape[1], : target.shape[2]] = target
        target = padded
    return image, target


def to_input(batch: np.ndarray) -> torch.Tensor:
    """uint8 ``(n, h, w, 3)`` -> ImageNet-normalised float ``(n, 3, h, w)``."""
    x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def epoch_crops(
    prepared: Sequence[Prepared],
    side: int,
    rng: np.random.Generator,
    defect_share: float = 0.7,
    most_per_sample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's crops, shuffled: uint8 ``(N, side, side, 3)`` and float ``(N, L, side,
    side)``."""
    images, targets = [], []
    for item in prepared:
        for _ in range(crops_per_sample(item, side, most_per_sample)):
            image, target = crop(item, side, rng, bool(rng.random() < defect_share))
            images.append(image)
            targets.append(target)
    order = rng.permutation(len(images))
    return np.stack([images[i] for i in order]), np.stack([targets[i] for i in order])
