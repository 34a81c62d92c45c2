import tracemalloc

import numpy as np
import pytest

from model_zoo.cam.proposals import Threshold, parse_threshold, proposals, union_mask, working_size


def blobs(side=64, centres=((16, 16, 5.0), (44, 48, 4.0))):
    yy, xx = np.mgrid[0:side, 0:side]
    cam = np.zeros((side, side), np.float32)
    for cy, cx, sigma in centres:
        cam = np.maximum(cam, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)))
    return cam


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("relative:0.5", Threshold("relative", 0.5)),
        ("fixed:0.4", Threshold("fixed", 0.4)),
        ("0.3", Threshold("fixed", 0.3)),
        (" OTSU ", Threshold("otsu")),
    ],
)
def test_threshold_specs(spec, expected):
    assert parse_threshold(spec) == expected


@pytest.mark.parametrize("spec", ["relative:1.5", "otsu:0.2", "mean", "fixed:"])
def test_bad_threshold_specs_say_what_is_allowed(spec):
    with pytest.raises(ValueError, match="relative:R"):
        parse_threshold(spec)


def test_one_scored_proposal_per_component_at_original_size():
    width, height = 300, 200  # not square: the map stretches back onto the image
    found = proposals(blobs(), width, height, "relative:0.5", min_area=10, class_score=0.8)
    assert len(found) == 2
    first, second = found
    assert first.score == pytest.approx(0.8, abs=0.02) and second.score <= first.score
    for p in found:
        mask = p.full_mask()
        assert mask.shape == (height, width) and mask.sum() == p.area > 0
        x0, y0, x1, y1 = p.box
        assert mask[y0:y1, x0:x1].any() and not mask[:y0].any() and not mask[:, x1:].any()
    # the blob centred at map (16, 16) of 64 lands near (75, 50) in the 300 x 200 image
    cx, cy = first.peak
    assert abs(cx - 16.5 * 300 / 64) < 8 and abs(cy - 16.5 * 200 / 64) < 8


def test_min_area_drops_small_components():
    cam = blobs(centres=((16, 16, 6.0), (48, 48, 1.0)))
    assert len(proposals(cam, 64, 64, "relative:0.5", min_area=0, morph_radius=0)) == 2
    assert len(proposals(cam, 64, 64, "relative:0.5", min_area=30, morph_radius=0)) == 1


def test_thresholds_differ():
    cam = blobs() * 0.6  # a smoothed map whose maximum is below 1
    relative = union_mask(proposals(cam, 64, 64, "relative:0.5"), 64, 64).sum()
    fixed = union_mask(proposals(cam, 64, 64, "fixed:0.5"), 64, 64).sum()
    otsu = union_mask(proposals(cam, 64, 64, "otsu"), 64, 64).sum()
    assert relative > fixed > 0 and otsu > 0 and len({relative, fixed, otsu}) == 3


@pytest.mark.parametrize("cam", [np.zeros((8, 8)), np.full((8, 8), 0.7)])
def test_no_activation_or_flat_maps_give_nothing_or_everything_once(cam):
    found = proposals(cam, 50, 40, "otsu")
    if cam.max() == 0:
        assert found == []
    else:
        assert len(found) == 1 and found[0].area == 50 * 40


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (7, 5)])
def test_tiny_images(size):
    found = proposals(blobs(), *size, "relative:0.5")
    for p in found:
        assert p.full_mask().shape == size[::-1]


def test_very_large_images_use_bounded_memory():
    width, height = 20000, 15000  # a full-size mask alone is 300 MB
    tracemalloc.start()
    found = proposals(blobs(centres=((20, 20, 1.5),)), width, height, "relative:0.5")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found) == 1 and found[0].size == (width, height)
    assert peak < 60 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert working_size(width, height) == (512, 384)
    x0, y0, x1, y1 = found[0].box
    assert 0 < x0 < x1 < width and found[0].crop.shape == (y1 - y0, x1 - x0)
