"""Images -> the pixel tensor of the shared classification + CAM pass.

Each image is stretched to a ``side x side`` square with PIL (bounded memory for very large
images; no centre crop, so the map covers the whole image and stretches back onto it) and
normalised with the processor's mean and std. ``side`` defaults to the model's input size.
PIL's ``reducing_gap=2.0`` shrinks large images by an integer box reduction first, then
resamples bilinearly (close to a full antialiased resize at about half the cost of ``3.0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from model_zoo.classifier.parts import normalisation


def stretch(image: Image.Image, side: int) -> Image.Image:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)


def cam_input(classifier, images: Sequence[Image.Image], side: int | None = None) -> torch.Tensor:
    """``(n, 3, side, side)`` float tensor of ``images`` for ``classifier``."""
    side = int(side or classifier.input_size)
    if side < 32:
        raise ValueError(f"CAM input size must be at least 32 pixels, not {side}")
    mean, std = normalisation(classifier.processor)
    arrays = np.stack([np.asarray(stretch(im, side)) for im in images])  # uint8, n x h x w x 3
    scale = 1.0 / (255.0 * torch.tensor(std))
    shift = -torch.tensor(mean) / torch.tensor(std)
    pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2).float()
    return pixels.mul_(scale[:, None, None]).add_(shift[:, None, None]).contiguous()


def is_uniform(pixel_values: torch.Tensor, tolerance: float = 1e-3) -> list[bool]:
    """Per row: whether the (model-input) image is blank or a single colour."""
    flat = pixel_values.flatten(2)
    spread = (flat.max(dim=2).values - flat.min(dim=2).values).max(dim=1).values
    return [bool(v <= tolerance) for v in spread]
