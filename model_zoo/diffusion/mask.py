"""The candidate defect mask of a generated pair: where the defect image differs from its twin.

Both images come from the same initial noise, so outside the defect they mostly agree. The
score of a pixel is its CIEDE2000 colour difference between the two (scaled to [0, 1]),
optionally averaged with the UNet's cross-attention to the defect token; it is thresholded
(Otsu, or a fixed value) and cleaned with scikit-image morphology: an opening removes
speckle, small objects are dropped, small holes are filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import color, filters, morphology

DELTA_E_SCALE = 50.0
"""A CIEDE2000 difference this large (clearly a different colour) scores 1."""


@dataclass(frozen=True)
class MaskSettings:
    threshold: str | float = "otsu"  # "otsu" or a score in (0, 1)
    attention_weight: float = 0.5  # share of the cross-attention map in the score, when given
    opening_radius: int = 1
    min_area: int = 16  # pixels; smaller objects are dropped
    max_hole: int = 16  # pixels; smaller holes are filled
    min_score: float = 0.05  # below this nothing counts as a difference (identical pairs)


def colour_difference(defect: Image.Image, twin: Image.Image) -> np.ndarray:
    """Per-pixel CIEDE2000 difference of two same-size RGB images, scaled to [0, 1]."""
    if defect.size != twin.size:
        raise ValueError(f"the pair differs in size: {defect.size} vs {twin.size}")
    a = color.rgb2lab(np.asarray(defect.convert("RGB"), dtype=np.float64) / 255.0)
    b = color.rgb2lab(np.asarray(twin.convert("RGB"), dtype=np.float64) / 255.0)
    return np.clip(color.deltaE_ciede2000(a, b) / DELTA_E_SCALE, 0.0, 1.0)


def _normalised(values: np.ndarray) -> np.ndarray:
    hi = float(values.max())
    return values / hi if hi > 0 else np.zeros_like(values)


def difference_score(
    defect: Image.Image,
    twin: Image.Image,
    attention: np.ndarray | None = None,
    attention_weight: float = 0.5,
) -> np.ndarray:
    """Score map (H, W) in [0, 1]: colour difference, averaged with the attention map if any."""
    score = colour_difference(defect, twin)
    if attention is None:
        return score
    if attention.shape != score.shape:
        raise ValueError(f"attention map {attention.shape} does not match image {score.shape}")
    w = float(np.clip(attention_weight, 0.0, 1.0))
    # The attention map only reweights where the images differ: identical pairs stay empty.
    return (1.0 - w) * score + w * score.astype(bool) * _normalised(attention.astype(np.float64))


def clean_mask(mask: np.ndarray, settings: MaskSettings = MaskSettings()) -> np.ndarray:
    """Opening, then small objects dropped and small holes filled (bool in, bool out)."""
    mask = np.asarray(mask, dtype=bool)
    if settings.opening_radius > 0:
        mask = morphology.isotropic_opening(mask, settings.opening_radius)
    if settings.min_area > 1:
        mask = morphology.remove_small_objects(mask, max_size=settings.min_area - 1)
    if settings.max_hole > 0:
        mask = morphology.remove_small_holes(mask, max_size=settings.max_hole)
    return mask


def threshold_score(score: np.ndarray, settings: MaskSettings = MaskSettings()) -> np.ndarray:
    """Binary mask of ``score`` at the settings' threshold (never below ``min_score``)."""
    if settings.threshold == "otsu":
        level = filters.threshold_otsu(score) if float(np.ptp(score)) > 0 else 1.0
    else:
        level = float(settings.threshold)
    return score > max(float(level), settings.min_score)


def pair_mask(
    defect: Image.Image,
    twin: Image.Image,
    attention: np.ndarray | None = None,
    settings: MaskSettings = MaskSettings(),
) -> np.ndarray:
    """The cleaned candidate mask (bool, H x W) of a generated pair."""
    score = difference_score(defect, twin, attention, settings.attention_weight)
    return clean_mask(threshold_score(score, settings), settings)


def parse_threshold(text: str) -> str | float:
    """``otsu`` or a number in (0, 1) (for the ``--mask-threshold`` option)."""
    if str(text).strip().lower() == "otsu":
        return "otsu"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise ValueError(f"--mask-threshold must be otsu or a number in (0, 1), not {text!r}")
    return value
