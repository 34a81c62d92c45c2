"""Augmentation of inspection photos for fine-tuning, on batches of pre-processed tensors.

Drone and handheld inspection photos have no canonical orientation and vary in exposure, so a
sample may be flipped either way, rotated a little, cropped and colour-jittered. The crops keep
at least ``min_crop`` of the side and are resized back *up* to the input size, so a defect that
is 1-3 px wide is enlarged, never erased; rotations are small (a crack stays a crack). Geometry
uses torchvision's tensor ops; every draw comes from the caller's generator (reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF


@dataclass(frozen=True)
class Augmentation:
    flip: float = 0.5  # probability of each of the horizontal and vertical flips
    max_rotation: float = 10.0  # degrees, either way
    min_crop: float = 0.75  # smallest crop side, as a share of the image side
    jitter: float = 0.2  # brightness / contrast / saturation, +- this share


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return float(low + (high - low) * torch.rand((), generator=generator))


def _geometry(image: torch.Tensor, spec: Augmentation, generator: torch.Generator) -> torch.Tensor:
    side_h, side_w = image.shape[-2:]
    if spec.min_crop < 1.0:
        share = _uniform(generator, spec.min_crop, 1.0)
        height, width = max(1, round(side_h * share)), max(1, round(side_w * share))
        top = int(torch.randint(0, side_h - height + 1, (), generator=generator))
        left = int(torch.randint(0, side_w - width + 1, (), generator=generator))
        image = TF.resized_crop(image, top, left, height, width, [side_h, side_w], antialias=False)
    if spec.max_rotation > 0:
        angle = _uniform(generator, -spec.max_rotation, spec.max_rotation)
        image = TF.rotate(image, angle, interpolation=InterpolationMode.BILINEAR)
    return image


def _colour(batch: torch.Tensor, spec: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation on normalised tensors (a shift keeps the mean)."""
    n = batch.shape[0]

    def draw() -> torch.Tensor:
        return 1.0 + spec.jitter * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)

    mean = batch.mean(dim=(1, 2, 3), keepdim=True)
    batch = (batch - mean) * draw() + mean  # contrast
    grey = batch.mean(dim=1, keepdim=True)
    batch = (batch - grey) * draw() + grey  # saturation
    return batch + (draw() - 1.0)  # brightness (in normalised units)


def augment_batch(
    batch: torch.Tensor, generator: torch.Generator, spec: Augmentation | None = None
) -> torch.Tensor:
    """A randomly augmented copy of ``batch`` (``N x 3 x H x W``, normalised)."""
    spec = spec or Augmentation()
    n = batch.shape[0]
    flip_h = torch.rand(n, generator=generator) < spec.flip
    flip_v = torch.rand(n, generator=generator) < spec.flip
    out = batch.clone()
    out[flip_h] = out[flip_h].flip(-1)
    out[flip_v] = out[flip_v].flip(-2)
    out = torch.stack([_geometry(image, spec, generator) for image in out])
    return _colour(out, spec, generator) if spec.jitter > 0 else out
