"""What every mask source shares: the result type, the image key, working-size resizing.

A mask source has a ``name`` and ``segment(image, prompts, key=None, shape=None)`` returning an
:class:`InteractiveMask` at the image's original size. The per-image part of its work (an
embedding) is kept in a :class:`~model_zoo.interactive.cache.ByteLRU` under
``(source name, key)``; ``key`` defaults to a hash of the pixels (:func:`image_key`).
``shape`` is a hint some sources use (``"ridge"`` for crack-like labels, ``"blob"`` else).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.prompts import Prompts

SHAPES = ("blob", "ridge")
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


@dataclass
class InteractiveMask:
    mask: np.ndarray  # bool (H, W), the original image size
    score: float
    source: str
    detail: dict = field(default_factory=dict)


class MaskSource(Protocol):
    name: str
    cache: ByteLRU

    def segment(
        self, image: Image.Image, prompts: Prompts, key: str | None = None, shape: str | None = None
    ) -> InteractiveMask: ...


def image_key(image: Image.Image) -> str:
    """A key that changes when the pixels change (blake2b of mode, size and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def working_image(image: Image.Image, side: int) -> tuple[np.ndarray, float, float]:
    """The image as RGB uint8 (H, W, 3), at most ``side`` px on its longer side, and the
    scale factors (small / original) along x and y."""
    width, height = image.size
    scale = min(1.0, side / max(width, height))
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if (small_w, small_h) != (width, height):
        rgb = rgb.resize((small_w, small_h), Image.Resampling.BILINEAR)
    return np.asarray(rgb), small_w / width, small_h / height


def to_original_size(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A boolean mask resized to ``width`` x ``height``: only the box around its pixels is
    upsampled (bilinear, thresholded at 0.5), so the cost follows the mask, not the image."""
    if mask.shape == (height, width):
        return mask.astype(bool)
    out = np.zeros((height, width), dtype=bool)
    if not mask.any():
        return out
    small_h, small_w = mask.shape
    sx, sy = width / small_w, height / small_h
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    # the output pixels that the mask's box (plus a margin for the filter) can reach
    y0, y1 = max(0, int((rows[0] - 1) * sy)), min(height, int(np.ceil((rows[-1] + 2) * sy)))
    x0, x1 = max(0, int((cols[0] - 1) * sx)), min(width, int(np.ceil((cols[-1] + 2) * sx)))
    small = Image.fromarray(mask.astype(np.uint8) * 255)
    crop = small.resize(
        (x1 - x0, y1 - y0),
        Image.Resampling.BILINEAR,
        box=(x0 / sx, y0 / sy, x1 / sx, y1 / sy),  # the same samples as a full resize
    )
    out[y0:y1, x0:x1] = np.asarray(crop) >= 128
    return out


def check_shape(shape: str | None) -> None:
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"unknown shape hint {shape!r}; known: {', '.join(SHAPES)}")


def checked_call(
    image: Image.Image, prompts: Prompts, key: str | None, shape: str | None
) -> tuple[int, int, str]:
    """What every ``segment`` call checks first (the shape hint; the prompts lie on the
    image): ``(width, height, key)``, the key defaulting to :func:`image_key`."""
    check_shape(shape)
    width, height = image.size
    prompts.check(width, height)
    return width, height, key or image_key(image)
