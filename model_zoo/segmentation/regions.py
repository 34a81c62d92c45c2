"""Probability map -> regions: one bool mask per connected component, scored by its mean
probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from model_zoo.measure import label_regions


@dataclass(frozen=True)
class Region:
    mask: np.ndarray  # bool (H, W), the component
    score: float  # mean probability over the component


def regions_from_probabilities(
    probability: np.ndarray, threshold: float = 0.5, min_area: int = 4
) -> list[Region]:
    """The 8-connected components of ``probability >= threshold`` with at least ``min_area``
    pixels, highest score first."""
    probability = np.asarray(probability, dtype=np.float32)
    labels, count = label_regions(probability >= threshold)
    if not count:
        return []
    index = np.arange(1, count + 1)
    sizes = ndi.sum_labels(np.ones_like(probability), labels, index)
    means = ndi.mean(probability, labels, index)
    out = [
        Region(mask=labels == i, score=float(m))
        for i, size, m in zip(index, sizes, means, strict=True)
        if size >= min_area
    ]
    return sorted(out, key=lambda r: -r.score)
