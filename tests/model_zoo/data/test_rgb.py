import numpy as np
import pytest
from PIL import Image

from model_zoo.data.rgb import to_rgb


def test_image_modes_become_rgb():
    gray16 = Image.fromarray((np.arange(64 * 32).reshape(32, 64) * 30).astype(np.uint16))
    assert gray16.mode.startswith("I;16")
    rgb = np.asarray(to_rgb(gray16))
    assert rgb.shape == (32, 64, 3) and rgb.max() > 200 and rgb.min() == 0
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert np.asarray(to_rgb(rgba)).min() == 255  # transparent -> white
    assert to_rgb(Image.new("L", (5, 4), 7)).mode == "RGB"
    assert to_rgb(np.zeros((4, 5), np.float32)).size == (5, 4)
    with pytest.raises(ValueError, match="must be"):
        to_rgb(np.zeros((4, 5, 7), np.uint8))


@pytest.mark.parametrize(
    "array, mode",
    [
        (np.array([[0, 257 * 100, 1000, 65535]], dtype=np.uint16), "I;16"),
        (np.array([[-1000, 0, 1000]], dtype=np.int32), "I"),
        (np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F"),
        (np.array([[-2.0, 0.0, 2.0, np.nan]], dtype=np.float32), "F"),
    ],
)
def test_an_array_and_its_pil_image_give_the_same_pixels(array, mode):
    image = Image.fromarray(array, mode=mode) if mode != "I;16" else Image.fromarray(array)
    assert image.mode == mode
    assert np.array_equal(np.asarray(to_rgb(array)), np.asarray(to_rgb(image)))
