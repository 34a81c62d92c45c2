"""Full-resolution prediction in overlapping tiles, and the crops training draws."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model_zoo.segmentation.crops import IGNORE, crop, epoch_crops, prepare
from model_zoo.segmentation.data import SegmentationSample
from model_zoo.segmentation.tiling import predict_tiled, starts, tile_count, working_size


def test_tile_starts_cover_the_length_with_the_overlap():
    assert starts(100, 128, 32) == [0]
    got = starts(300, 128, 32)
    assert got[0] == 0 and got[-1] == 300 - 128
    assert all(b - a <= 128 - 32 for a, b in zip(got, got[1:], strict=False))
    assert tile_count(4000, 3000, 256, 32, max_side=2048) == len(starts(2048, 256, 32)) * len(
        starts(1536, 256, 32)
    )


def _dark_pixel_logits(tiles: np.ndarray) -> torch.Tensor:
    """A stand-in network: a pixel's logit says how dark it is (exact, tile by tile)."""
    grey = torch.from_numpy(tiles.astype(np.float32)).mean(dim=-1)
    return (128.0 - grey)[:, None] / 8.0


def test_tiled_prediction_is_seamless_and_at_the_original_size():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (150, 230, 3)).astype(np.uint8)
    image = Image.fromarray(array)
    maps = predict_tiled(_dark_pixel_logits, image, side=64, overlap=16, max_side=0)
    expected = torch.sigmoid(_dark_pixel_logits(array[None]))[0].numpy()
    assert maps.shape == (1, 150, 230)
    np.testing.assert_allclose(maps, expected, atol=1e-5)  # pixelwise network: tiles invisible


def test_small_images_are_padded_and_large_ones_bounded_by_max_side():
    calls = []

    def logits(tiles):
        calls.append(tiles.shape)
        return _dark_pixel_logits(tiles)

    small = Image.new("RGB", (20, 30), (10, 10, 10))
    assert predict_tiled(logits, small, 64, 16).shape == (1, 30, 20)
    assert calls == [(1, 64, 64, 3)]
    calls.clear()
    large = Image.new("RGB", (1000, 500), (200, 200, 200))
    out = predict_tiled(logits, large, 64, 16, max_side=128, batch=100)
    assert out.shape == (1, 500, 1000) and calls[0][0] == tile_count(1000, 500, 64, 16, 128)


def test_small_images_are_enlarged_towards_min_side_at_most_twice_and_never_past_max_side():
    assert working_size(208, 208, 2048, 416) == (416, 416)
    assert working_size(100, 300, 2048, 416) == (200, 600)  # 4.16x asked, 2x at most
    assert working_size(300, 1500, 2000, 416) == (400, 2000)  # max_side caps the enlarging
    assert working_size(1000, 500, 2048, 416) == (1000, 500)  # large enough: left alone
    assert working_size(208, 208, 2048, 0) == (208, 208)  # 0: never enlarged
    assert working_size(4000, 3000, 2048, 416) == (2048, 1536)


def test_an_enlarged_image_is_predicted_at_its_working_size_and_returned_at_its_own():
    calls = []

    def logits(tiles):
        calls.append(tiles.shape)
        return _dark_pixel_logits(tiles)

    array = np.zeros((60, 100, 3), np.uint8)
    array[:, 50:] = 255  # left half dark, right half bright
    out = predict_tiled(logits, Image.fromarray(array), 64, 16, max_side=0, batch=100, min_side=120)
    assert out.shape == (1, 60, 100)
    assert calls[0][0] == tile_count(100, 60, 64, 16, 0, 120) == tile_count(200, 120, 64, 16, 0)
    assert out[0, :, :45].min() > 0.99 and out[0, :, 55:].max() < 0.01
    prepared = prepare(SegmentationSample(Image.fromarray(array), {}), ["crack"], 0, min_side=120)
    assert prepared.image.shape == (120, 200, 3) and prepared.target.shape == (1, 120, 200)


def test_crops_center_on_defects_and_ignore_padding_and_the_band():
    mask = np.zeros((40, 300), bool)
    mask[20, 280:290] = True
    ignore = np.zeros((40, 300), bool)
    ignore[0:5] = True
    sample = SegmentationSample(Image.new("RGB", (300, 40)), {"crack": mask}, ignore=ignore)
    prepared = prepare(sample, ["crack"], max_side=0)
    rng = np.random.default_rng(0)
    image, target = crop(prepared, 64, rng, on_defect=True)
    assert image.shape == (64, 64, 3) and target.shape == (1, 64, 64)
    assert (target > 0.5).any()  # the crack is inside the crop
    assert (target[:, 40:] == IGNORE).all()  # below the 40-pixel-high image: padding
    assert (target[:, :5] == IGNORE).all()  # the ignored band
    images, targets = epoch_crops([prepared], 64, rng, defect_share=1.0, most_per_sample=3)
    assert images.shape == (3, 64, 64, 3) and all((t > 0.5).any() for t in targets)
