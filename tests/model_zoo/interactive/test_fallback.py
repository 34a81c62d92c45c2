import numpy as np
import pytest
from PIL import Image
from skimage.draw import line

from model_zoo.interactive import fallback as fallback_module
from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.fallback import FallbackSource
from model_zoo.interactive.prompts import PromptError, Prompts


def _noisy_grey(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(150 + rng.normal(0, 6, (h, w, 3)), 0, 255)


def _square_image() -> tuple[Image.Image, np.ndarray]:
    """A red square on noisy grey concrete, and its mask."""
    rgb = _noisy_grey(120, 160)
    mask = np.zeros((120, 160), dtype=bool)
    mask[30:80, 50:110] = True
    rgb[mask] = (170, 60, 50)
    return Image.fromarray(rgb.astype(np.uint8)), mask


def _crack_image() -> tuple[Image.Image, np.ndarray]:
    """A dark two-pixel line across noisy grey, and its mask."""
    rgb = _noisy_grey(200, 240, seed=1)
    mask = np.zeros((200, 240), dtype=bool)
    rr, cc = line(20, 20, 180, 220)
    for d in (0, 1):
        mask[rr, np.minimum(cc + d, 239)] = True
    rgb[mask] = 70
    return Image.fromarray(rgb.astype(np.uint8)), mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture
def source():
    return FallbackSource(cache=ByteLRU(64 * 1024 * 1024))


def test_click_inside_a_blob_returns_the_blob(source):
    image, mask = _square_image()
    result = source.segment(image, Prompts(((80, 55),), (True,)))
    assert result.detail["shapes"] == ["blob"]
    assert result.mask.shape == (120, 160)
    assert _iou(result.mask, mask) > 0.8


def test_box_without_click_returns_what_differs_from_its_surroundings(source):
    image, mask = _square_image()
    result = source.segment(image, Prompts(boxes=((40, 20, 120, 90),)))
    assert _iou(result.mask, mask) > 0.8
    assert not result.mask[:, :35].any()  # nothing outside the box


def test_click_on_a_crack_follows_the_crack(source):
    image, mask = _crack_image()
    result = source.segment(image, Prompts(((100.5, 80.5),), (True,)))
    assert result.detail["shapes"] == ["ridge"]
    covered = result.mask[mask].mean()
    assert covered > 0.8, covered
    assert result.mask.sum() < 6 * mask.sum()  # a thin mask, not a blob


def test_negative_click_cuts_the_crack(source):
    image, mask = _crack_image()
    one_click = source.segment(image, Prompts(((45.5, 40.5),), (True,)))
    cut = source.segment(image, Prompts(((45.5, 40.5), (157.5, 130.5)), (True, False)))
    assert cut.mask.sum() < 0.75 * one_click.mask.sum()
    assert not cut.mask[170:, 200:].any()  # the far end lies beyond the cut


def test_shape_hint_overrides_the_automatic_choice(source):
    image, _ = _square_image()
    result = source.segment(image, Prompts(((80, 55),), (True,)), shape="ridge")
    assert result.detail["shapes"] == ["ridge"]
    with pytest.raises(ValueError, match="unknown shape"):
        source.segment(image, Prompts(((80, 55),), (True,)), shape="line")


def test_features_are_computed_once_per_image(source, monkeypatch):
    calls = []
    real = fallback_module.compute_features

    def counting(image, side):
        calls.append(image.size)
        return real(image, side=side)

    monkeypatch.setattr(fallback_module, "compute_features", counting)
    image, _ = _square_image()
    for x in (60, 80, 100):
        source.segment(image, Prompts(((x, 55),), (True,)))
    assert len(calls) == 1
    source.segment(_crack_image()[0], Prompts(((100.5, 80.5),), (True,)))
    assert len(calls) == 2


def test_large_images_are_worked_at_the_working_side_and_answered_at_full_size():
    image, mask = _square_image()
    big = image.resize((800, 600), Image.Resampling.NEAREST)
    big_mask = np.asarray(Image.fromarray(mask).resize((800, 600), Image.Resampling.NEAREST))
    result = FallbackSource(side=200).segment(big, Prompts(((400, 275),), (True,)))
    assert result.mask.shape == (600, 800)
    assert _iou(result.mask, big_mask) > 0.8


def test_point_outside_the_image_is_a_prompt_error(source):
    image, _ = _square_image()
    with pytest.raises(PromptError):
        source.segment(image, Prompts(((500, 10),), (True,)))
