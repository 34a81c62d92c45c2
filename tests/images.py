"""Small helpers to make test images."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def random_image(
    width: int = 96, height: int = 80, seed: int = 0, mode: str = "RGB"
) -> Image.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(array).convert(mode)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()
