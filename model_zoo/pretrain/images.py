"""The images MAE pretraining learns from: found in a folder, decoded once, cropped per step."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from model_zoo.data.dataset import find_images, open_image
from model_zoo.pretrain.configs import MEAN, STD
from model_zoo.pretrain.errors import PretrainError

log = logging.getLogger(__name__)


def scan_images(folder: str | os.PathLike) -> tuple[list[Path], int]:
    """Image files under ``folder``, recursively (hidden ones ignored), and how many other
    files were skipped. Raises :class:`PretrainError` for a missing folder."""
    try:
        return find_images(folder)
    except NotADirectoryError as exc:
        raise PretrainError(f"image folder {exc}") from None


def cache_side(image_size: int) -> int:
    """Images are kept at this side; training takes random ``image_size`` crops of them."""
    return int(round(image_size * 8 / 7))


def load_images(
    paths: Sequence[Path], side: int, progress: bool = True
) -> tuple[torch.Tensor, list[Path]]:
    """Decode ``paths`` as RGB, centre-crop to square and resize to ``side``: a uint8 tensor
    (N, 3, side, side) and the paths that could not be read (skipped)."""
    from tqdm.auto import tqdm

    arrays: list[np.ndarray] = []
    bad: list[Path] = []
    for path in tqdm(paths, desc="reading images", unit="img", disable=not progress):
        try:
            image = open_image(path)
            image = ImageOps.fit(image, (side, side), Image.Resampling.BICUBIC)
            arrays.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
            log.debug("cannot read %s: %s", path, exc)
            bad.append(path)
    if not arrays:
        return torch.zeros((0, 3, side, side), dtype=torch.uint8), bad
    return torch.from_numpy(np.stack(arrays)), bad


def to_pixels(batch: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


def augment(batch: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``size`` crops and flips of uint8 images; returns normalised floats."""
    n, _, h, w = batch.shape
    ys = torch.randint(0, h - size + 1, (n,), generator=generator)
    xs = torch.randint(0, w - size + 1, (n,), generator=generator)
    flips = torch.rand(n, 2, generator=generator) < 0.5
    out = []
    for i in range(n):
        crop = batch[i, :, ys[i] : ys[i] + size, xs[i] : xs[i] + size]
        if flips[i, 0]:
            crop = crop.flip(-1)
        if flips[i, 1]:
            crop = crop.flip(-2)
        out.append(crop)
    return to_pixels(torch.stack(out))


def center(batch: torch.Tensor, size: int) -> torch.Tensor:
    h, w = batch.shape[-2:]
    y, x = (h - size) // 2, (w - size) // 2
    return to_pixels(batch[..., y : y + size, x : x + size])
