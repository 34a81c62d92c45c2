"""Mask scores: IoU per image and pooled, the 2-pixel tolerance, the accepted share."""

from __future__ import annotations

import numpy as np
import pytest

from model_zoo.masks.scoring import MaskScores, accepted_regions, components, near, region_masks


def _line(shape=(40, 40), row=20, width=2, cols=(5, 35)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[row : row + width, cols[0] : cols[1]] = True
    return mask


def test_a_perfect_mask_scores_one_everywhere():
    truth = _line()
    scores = MaskScores()
    scores.add("crack", truth, truth)
    row = scores.report()["overall"]
    for key in ("iou", "pooled_iou", "f1", "f1_tol2", "accepted"):
        assert row[key] == pytest.approx(1.0)
    assert row["proposals_per_image"] == 1 and row["images"] == 1


def test_a_one_pixel_shift_of_a_thin_crack_is_forgiven_by_the_tolerance_only():
    truth, shifted = _line(row=20), _line(row=21)
    scores = MaskScores()
    scores.add("crack", shifted, truth)
    row = scores.report()["overall"]
    assert row["iou"] == pytest.approx(30 / 90)  # 30 shared of 90 pixels
    assert row["f1_tol2"] == pytest.approx(1.0)


def test_pooled_iou_weighs_large_defects_and_mean_iou_weighs_images():
    scores = MaskScores()
    big = np.zeros((40, 40), bool)
    big[:20] = True
    scores.add("a", big, big)  # 800 pixels, perfect
    small_truth = _line(width=1, cols=(0, 10))
    scores.add("a", np.zeros_like(small_truth), small_truth)  # 10 pixels, missed
    row = scores.report()["overall"]
    assert row["iou"] == pytest.approx(0.5)
    assert row["pooled_iou"] == pytest.approx(800 / 810)


def test_fragments_of_one_crack_are_not_accepted_each():
    truth = _line(cols=(0, 40))
    halves = [_line(cols=(0, 12)), _line(cols=(28, 40))]  # each covers 30 % of the crack
    assert accepted_regions(halves, components(truth)[0]) == 0
    assert accepted_regions([_line(cols=(0, 30))], components(truth)[0]) == 1
    assert accepted_regions([_line(row=2)], components(truth)[0]) == 0  # touches nothing


def test_per_class_rows_and_a_shape_mismatch_is_an_error():
    scores = MaskScores()
    scores.add("crack", _line(), _line())
    scores.add("rust", np.zeros((40, 40), bool), _line())
    report = scores.report()
    assert set(report["per_class"]) == {"crack", "rust"}
    assert report["per_class"]["rust"]["iou"] == 0 and report["per_class"]["crack"]["iou"] == 1
    with pytest.raises(ValueError, match="predicted mask"):
        scores.add("crack", np.zeros((10, 10), bool), _line())


def test_near_and_region_masks():
    point = np.zeros((9, 9), bool)
    point[4, 4] = True
    assert near(point, 2).sum() == 13 and near(point, 0).sum() == 1
    two = _line(row=2) | _line(row=30, cols=(0, 3))
    assert len(region_masks(two)) == 2 and len(region_masks(two, min_area=10)) == 1
