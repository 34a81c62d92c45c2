"""``to_rgb``: 8-bit RGB from any image, the one conversion every model input goes through.

Rules (the same for PIL images and numpy arrays, decided by the pixel type):

* 8-bit images pass through (RGB) or use Pillow's conversion (L, 1, P, CMYK, YCbCr …);
* integers wider than 8 bit (``I;16*``, ``I``, uint16/int32 arrays) with values in 0..65535
  are scaled by 255/65535; other integer images are stretched from their min..max;
* floats (``F``, float arrays) in 0..1 are scaled by 255, others stretched from their min..max
  (NaN and infinities count as 0);
* transparency (alpha channels, palette or tRNS transparency) is composited on white, which is
  how the image shows on a page.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ALPHA_BACKGROUND = (255, 255, 255, 255)
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def to_rgb(image: Image.Image | np.ndarray) -> Image.Image:
    """8-bit RGB from a PIL image of any mode or an (H, W), (H, W, 3) or (H, W, 4) array."""
    if isinstance(image, np.ndarray):
        image = _array_to_image(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    if image.width < 1 or image.height < 1:
        raise ValueError(f"the image is empty ({image.width}x{image.height})")
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(scale_to_uint8(np.asarray(image)), mode="L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), not {arr.shape}")
    if arr.dtype != np.uint8:
        arr = scale_to_uint8(arr)
    return Image.fromarray(arr)


def scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Pixel values of any integer or float type to uint8, by the rules of the module."""
    a = arr.astype(np.float32)  # float32 is exact for 16-bit values and halves the memory
    if np.issubdtype(arr.dtype, np.floating):
        np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0 and hi <= 1:
        a *= 255.0
    elif np.issubdtype(arr.dtype, np.integer) and lo >= 0 and hi <= 65535:
        if arr.dtype.itemsize > 1:
            a *= 255.0 / 65535.0
    elif hi > lo:
        a -= lo
        a *= 255.0 / (hi - lo)
    else:
        a[...] = 0
    np.rint(a, out=a)
    np.clip(a, 0, 255, out=a)
    return a.astype(np.uint8)
