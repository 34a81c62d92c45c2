"""Training pairs for the segmentation network: an image and one bool mask per label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class SegmentationSample:
    """One image and its masks: ``masks[label]`` is a bool ``(H, W)`` array at the image's
    size (a label without a mask is empty: an image without defects is all background).
    ``ignore``: optional bool ``(H, W)`` pixels no label learns from (the uncertain band of a
    pseudo-mask). ``key`` names the sample in reports (a task id)."""

    image: Image.Image
    masks: Mapping[str, np.ndarray]
    key: str = ""
    meta: dict = field(default_factory=dict)
    ignore: np.ndarray | None = None

    @property
    def has_foreground(self) -> bool:
        return any(np.any(m) for m in self.masks.values())

    def check(self) -> None:
        """ValueError naming the sample when a mask does not fit its image."""
        w, h = self.image.size
        masks = dict(self.masks)
        if self.ignore is not None:
            masks["(ignored pixels)"] = self.ignore
        for label, mask in masks.items():
            shape = np.shape(mask)
            if shape != (h, w):
                raise ValueError(
                    f"sample {self.key or '?'}: the {label!r} mask is {shape[1::-1]} (W, H), "
                    f"the image {w}x{h}"
                )


def image_tensor(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """``(N, 3, size, size)`` float tensor, resized (bilinear) and ImageNet-normalised."""
    arrays = [
        np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
        for im in images
    ]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def mask_tensor(samples: Sequence[SegmentationSample], labels: Sequence[str], size: int):
    """``(N, L, size, size)`` soft targets in [0, 1]: each mask area-resized, so a crack one
    pixel wide at full size is not lost (it becomes a fractional target)."""
    out = torch.zeros((len(samples), len(labels), size, size))
    for i, sample in enumerate(samples):
        for j, label in enumerate(labels):
            mask = sample.masks.get(label)
            if mask is None or not np.any(mask):
                continue
            m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
            out[i, j] = F.interpolate(m, size=(size, size), mode="area")[0, 0]
    return out


def holdout_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices ``(train, holdout)``: a seeded shuffle, at least one of each when n >= 2."""
    if n < 2:
        raise ValueError(f"a hold-out split needs at least 2 samples, got {n}")
    order = np.random.default_rng(seed).permutation(n).tolist()
    k = min(n - 1, max(1, int(round(n * float(fraction)))))
    return sorted(order[k:]), sorted(order[:k])


def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
    """The same random flips and quarter turns on a batch of images and their masks."""
    if torch.rand((), generator=generator) < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    if torch.rand((), generator=generator) < 0.5:
        x, y = x.flip(-2), y.flip(-2)
    k = int(torch.randint(0, 4, (), generator=generator))
    # rot90 returns a strided view; convolutions on it are ten times slower on the CPU
    return (
        torch.rot90(x, k, (-2, -1)).contiguous(),
        torch.rot90(y, k, (-2, -1)).contiguous(),
    )
