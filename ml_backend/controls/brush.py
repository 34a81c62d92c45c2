"""Brush masks as Label Studio ``brushlabels`` results, with the SDK's RLE codec.

Masks are full-size (the image's original width and height) 2-D arrays; they are encoded as
0/255 alpha (``label_studio_sdk.converter.brush.mask2rle``), which is what the brush tool shows.
"""

from __future__ import annotations

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle


def encode_mask(mask: np.ndarray) -> list[int]:
    """RLE of a boolean/0-1/0-255 mask of shape (height, width)."""
    if mask.ndim != 2:
        raise ValueError(f"a brush mask must be 2-D (height, width), got shape {mask.shape}")
    alpha = np.where(np.asarray(mask) > 0, 255, 0).astype(np.uint8)
    return [int(b) for b in mask2rle(alpha)]


def decode_mask(rle: list[int], height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask from a ``value.rle`` list."""
    flat = decode_rle(rle)
    if flat.size != height * width * 4:
        raise ValueError(
            f"RLE holds {flat.size // 4} pixels, expected {height}x{width}={height * width}"
        )
    return flat.reshape(height, width, 4)[:, :, 3] > 0


def brush_value(mask: np.ndarray, label: str) -> dict:
    return {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]}


def brush_region(handler, mask: np.ndarray, label: str, score: float, **extra):
    """A ``brushlabels`` region of ``handler``'s control at the mask's (original) size."""
    height, width = mask.shape
    return handler.region(
        brush_value(mask, label),
        score,
        original_width=int(width),
        original_height=int(height),
        image_rotation=0,
        **extra,
    )
