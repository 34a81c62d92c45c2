"""The guided-filter refinement moves a coarse map's edge onto the image's edge."""

import numpy as np
from PIL import Image

from model_zoo.cam.refinements import REFINEMENTS, parse_refine
from model_zoo.cam.refinements.base import ImageContext
from model_zoo.cam.refinements.guided import guided_filter


def test_constant_guide_gives_the_box_mean_and_a_flat_source_stays_flat():
    guide = np.full((32, 32), 0.5, dtype=np.float32)
    source = np.full((32, 32), 0.25, dtype=np.float32)
    np.testing.assert_allclose(guided_filter(guide, source, 3, 1e-3), 0.25, atol=1e-5)


def test_coarse_map_snaps_to_the_image_edge():
    side = 96
    grey = np.full((side, side), 200, dtype=np.uint8)
    grey[:, :48] = 40  # a dark defect filling the left half
    image = Image.fromarray(grey).convert("RGB")
    coarse = np.clip(1.0 - np.arange(side, dtype=np.float32) / 88.0, 0, 1)  # blurry ramp
    work = np.tile(coarse, (side, 1))
    refined = REFINEMENTS["guided"]().refine_map(work, ImageContext(image, (side, side)), None)
    before = (work >= 0.5 * work.max())[0]
    after = (refined >= 0.5 * refined.max())[0]
    assert abs(int(before.sum()) - 48) >= 3  # the raw map's edge is off the defect's
    assert abs(int(after.sum()) - 48) <= 2
    assert parse_refine("guided+ridge") == ("guided", "ridge")


def test_all_zero_map_is_left_alone():
    image = Image.new("RGB", (40, 40), "grey")
    work = np.zeros((40, 40), dtype=np.float32)
    out = REFINEMENTS["guided"]().refine_map(work, ImageContext(image, (40, 40)), None)
    assert not out.any()


def test_fast_guided_filter_is_close_to_the_exact_one():
    rng = np.random.default_rng(0)
    guide = np.kron(rng.random((16, 16)), np.ones((16, 16))).astype(np.float32)
    source = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (256, 1))
    exact = guided_filter(guide, source, 16, 1e-3)
    fast = guided_filter(guide, source, 16, 1e-3, step=4)
    assert fast.shape == exact.shape
    assert float(np.abs(fast - exact).mean()) < 0.03
