"""Region measures: against hand-made shapes and the synthetic cracks of known width."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.morphology import skeletonize

from model_zoo.data.synth import crack_of_width
from model_zoo.measure import measure_region, measure_regions
from model_zoo.measure.skeleton import AXIS_STEP, DIAGONAL_STEP, prune_spurs, step_length


def test_step_length_counts_axis_and_diagonal_steps():
    line = np.zeros((12, 12), bool)
    line[3, 1:11] = True
    assert step_length(line) == pytest.approx(9 * AXIS_STEP)
    diagonal = np.eye(8, dtype=bool)
    assert step_length(diagonal) == pytest.approx(7 * DIAGONAL_STEP)


def test_a_staircase_corner_is_not_counted_twice():
    corner = np.zeros((5, 5), bool)
    corner[1, 1] = corner[1, 2] = corner[2, 2] = True  # two axis steps, not also a diagonal
    assert step_length(corner) == pytest.approx(2 * AXIS_STEP)


def test_a_bar_has_its_length_width_and_area():
    mask = np.zeros((30, 60), bool)
    mask[10:15, 5:45] = True  # 5 px wide, 40 px long
    (m,) = measure_regions(mask)
    assert m.area_px == 200
    assert m.max_width_px == pytest.approx(5.0)
    assert m.length_px == pytest.approx(40, rel=0.10)
    assert m.mean_width_px == pytest.approx(5.0, abs=0.35)
    assert m.bbox == (10, 5, 15, 45)


def test_one_pixel_and_empty_masks():
    dot = np.zeros((5, 5), bool)
    dot[2, 2] = True
    (m,) = measure_regions(dot)
    assert (m.area_px, m.length_px, m.max_width_px) == (1, pytest.approx(1.0), 1.0)
    assert measure_regions(np.zeros((5, 5), bool)) == []
    assert measure_region(np.zeros((5, 5), bool)).area_px == 0


def test_each_connected_region_is_measured_largest_first():
    mask = np.zeros((40, 40), bool)
    mask[2:5, 2:30] = True
    mask[20:22, 10:16] = True
    big, small = measure_regions(mask)
    assert (big.area_px, small.area_px) == (84, 12)
    assert measure_regions(mask, min_area=20) == [big]


def test_millimetres_follow_the_scale():
    mask = np.zeros((20, 50), bool)
    mask[5:8, 5:45] = True
    px = measure_regions(mask)[0]
    mm = measure_regions(mask, mm_per_pixel=0.25)[0]
    assert px.length_mm is None and "px" in px.describe()
    assert mm.length_mm == pytest.approx(px.length_px * 0.25)
    assert mm.max_width_mm == pytest.approx(px.max_width_px * 0.25)
    assert mm.area_mm2 == pytest.approx(px.area_px * 0.0625)
    assert "mm" in mm.describe()
    assert mm.as_dict()["mean_width_mm"] == pytest.approx(px.mean_width_px * 0.25)


@pytest.mark.parametrize("scale", [0, -1, "abc", float("nan")])
def test_a_bad_scale_is_a_clear_error(scale):
    with pytest.raises(ValueError, match="mm_per_pixel"):
        measure_regions(np.ones((4, 4), bool), mm_per_pixel=scale)


def test_a_mask_must_be_two_dimensional():
    with pytest.raises(ValueError, match="2-D"):
        measure_regions(np.ones((4, 4, 3), bool))


def test_spurs_from_a_rough_outline_are_pruned():
    mask = np.zeros((30, 80), bool)
    mask[10:19, 5:75] = True
    for x in range(10, 70, 8):  # bumps on the outline
        mask[8:10, x : x + 2] = True
    raw = skeletonize(mask)
    from scipy import ndimage as ndi

    distance = ndi.distance_transform_edt(mask)
    pruned = prune_spurs(raw, distance)
    assert pruned.sum() < raw.sum()
    assert measure_regions(mask)[0].length_px == pytest.approx(70, rel=0.10)


@pytest.mark.parametrize("width", [3, 4, 5, 7, 10, 14])
def test_width_and_length_of_synthetic_cracks_of_known_width(width):
    rng = np.random.default_rng(width)
    for _ in range(6):
        crack = crack_of_width(rng, 160, width)
        (m,) = measure_regions(crack.mask)
        assert abs(m.max_width_px - crack.width) <= 1.0
        assert abs(m.mean_width_px - crack.width) <= 1.0
        assert m.length_px == pytest.approx(crack.length, rel=0.10)
