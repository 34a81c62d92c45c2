import numpy as np
import pytest
from PIL import Image

from model_zoo.interactive.source import image_key, to_original_size, working_image


@pytest.mark.parametrize("size", [(600, 400), (457, 333), (150, 100)])
def test_to_original_size_equals_a_full_resize(size):
    mask = np.zeros((100, 150), dtype=bool)
    mask[20:60, 30:90] = True
    mask[70:73, 140:150] = True
    width, height = size
    full = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    full = np.asarray(full) >= 128
    got = to_original_size(mask, width, height)
    assert got.shape == (height, width)
    np.testing.assert_array_equal(got, full)
    assert not to_original_size(np.zeros((10, 10), bool), 40, 30).any()


def test_working_image_bounds_the_longer_side_and_reports_the_scale():
    image = Image.new("L", (1000, 500))
    rgb, sx, sy = working_image(image, 256)
    assert rgb.shape == (128, 256, 3)
    assert sx == pytest.approx(0.256) and sy == pytest.approx(0.256)
    small, sx, sy = working_image(Image.new("RGB", (100, 50)), 256)
    assert small.shape == (50, 100, 3) and sx == sy == 1.0


def test_image_key_follows_the_pixels():
    a, b = Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))
    assert image_key(a) == image_key(b)
    b.putpixel((3, 3), (1, 0, 0))
    assert image_key(a) != image_key(b)
    assert image_key(Image.new("RGB", (4, 16))) != image_key(a)
