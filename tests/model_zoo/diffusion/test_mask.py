"""Masks from a pair's difference: shape, threshold, cleaning."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_zoo.diffusion.mask import (
    MaskSettings,
    clean_mask,
    colour_difference,
    pair_mask,
    parse_threshold,
)
from model_zoo.diffusion.paired import GenerationSettings, generate_pair


def _pair(h=48, w=64):
    rng = np.random.default_rng(1)
    wall = (128 + rng.normal(0, 3, (h, w, 3))).clip(0, 255).astype(np.uint8)
    crack = wall.copy()
    crack[10:30, 20:26] = 20  # the defect: a dark bar
    crack[40, 5] = 20  # one stray pixel: speckle the cleaning removes
    return Image.fromarray(crack), Image.fromarray(wall)


def test_mask_is_where_the_pair_differs():
    crack, wall = _pair()
    mask = pair_mask(crack, wall)
    assert mask.shape == (48, 64) and mask.dtype == bool
    assert mask[12:28, 21:25].all()  # inside the bar
    assert not mask[40, 5]  # speckle removed
    assert mask.sum() == pytest.approx(20 * 6, rel=0.15)


def test_identical_pair_has_an_empty_mask():
    _, wall = _pair()
    assert not pair_mask(wall, wall).any()
    assert colour_difference(wall, wall).max() == 0.0


def test_cleaning_drops_small_objects_and_fills_holes():
    mask = np.zeros((40, 40), bool)
    mask[5:25, 5:25] = True
    mask[14, 14] = False  # a hole
    mask[33:35, 33:35] = True  # a 4-pixel object
    cleaned = clean_mask(mask, MaskSettings(opening_radius=0, min_area=10, max_hole=5))
    assert cleaned[14, 14] and not cleaned[33:35, 33:35].any()
    assert cleaned[5:25, 5:25].all()


def test_attention_reweights_the_difference():
    crack, wall = _pair()
    attention = np.zeros((48, 64))
    attention[:, :23] = 1.0  # attends to the left half of the bar only
    settings = MaskSettings(attention_weight=0.9, opening_radius=0, min_area=1, max_hole=0)
    mask = pair_mask(crack, wall, attention, settings)
    assert mask[15, 21] and not mask[15, 25]
    with pytest.raises(ValueError, match="does not match"):
        pair_mask(crack, wall, np.zeros((4, 4)))


def test_mask_of_a_generated_pair_has_the_image_shape(tiny_pipe):
    sample = generate_pair(tiny_pipe, "big crack", "wall", 0, GenerationSettings(steps=2))
    assert pair_mask(sample.defect, sample.twin).shape == (32, 32)


def test_parse_threshold():
    assert parse_threshold("OTSU") == "otsu"
    assert parse_threshold("0.3") == 0.3
    for bad in ("0", "1.5", "high"):
        with pytest.raises(ValueError, match="mask-threshold"):
            parse_threshold(bad)
