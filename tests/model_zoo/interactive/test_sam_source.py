import numpy as np
import pytest
from PIL import Image

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.prompts import PromptError, Prompts
from model_zoo.interactive.sam_source import SamSource
from model_zoo.sam.refiner import tiny_sam
from tests.images import random_image


@pytest.fixture(scope="module")
def sam_model():
    return tiny_sam(image_size=64).predictor.model


@pytest.fixture
def source(sam_model):
    return SamSource(sam_model, cache=ByteLRU(64 * 1024 * 1024))


def _count_encoder_calls(model, monkeypatch) -> list:
    calls = []
    forward = model.image_encoder.forward

    def counting(x):
        calls.append(x.shape)
        return forward(x)

    monkeypatch.setattr(model.image_encoder, "forward", counting)
    return calls


def test_mask_at_original_size_and_encoder_runs_once_per_image(source, sam_model, monkeypatch):
    calls = _count_encoder_calls(sam_model, monkeypatch)
    image = random_image(150, 100, seed=1)
    first = source.segment(image, Prompts(((20, 30),), (True,)))
    second = source.segment(image, Prompts(((120, 80), (10, 10)), (True, False)))
    assert first.mask.shape == second.mask.shape == (100, 150)
    assert first.mask.dtype == bool
    assert len(calls) == 1
    source.segment(random_image(150, 100, seed=2), Prompts(((20, 30),), (True,)))
    assert len(calls) == 2


def test_cached_embedding_gives_what_a_fresh_predictor_gives(source, sam_model):
    from segment_anything import SamPredictor

    image = random_image(64, 64, seed=3)
    source.segment(image, Prompts(((5, 5),), (True,)), key="img")  # fills the cache
    point = np.array([[40.0, 12.0]])
    result = source.segment(image, Prompts(((40.0, 12.0),), (True,)), key="img")
    fresh = SamPredictor(sam_model)
    fresh.set_image(np.asarray(image))
    masks, iou, _ = fresh.predict(point_coords=point, point_labels=np.array([1]))
    best = int(np.argmax(iou))
    np.testing.assert_array_equal(result.mask, masks[best])
    assert result.score == pytest.approx(float(iou[best]), abs=1e-6)


def test_boxes_and_clicks_are_decoded_per_group(source):
    image = random_image(80, 60, seed=4)
    prompts = Prompts(
        points=((10, 10), (70, 50), (40, 30)),
        positive=(True, True, False),
        boxes=((0, 0, 30, 30),),
    )
    result = source.segment(image, prompts)
    assert result.detail["groups"] == 2
    assert len(result.detail["scores"]) == 2


def test_bad_prompts_raise_before_any_work(source, sam_model, monkeypatch):
    calls = _count_encoder_calls(sam_model, monkeypatch)
    with pytest.raises(PromptError, match="outside"):
        source.segment(random_image(50, 40), Prompts(((60, 10),), (True,)))
    with pytest.raises(PromptError, match="no area"):
        source.segment(random_image(50, 40), Prompts(boxes=((5, 5, 5, 20),)))
    assert calls == []


def test_a_large_image_is_encoded_at_sam_size(source, sam_model, monkeypatch):
    calls = _count_encoder_calls(sam_model, monkeypatch)
    image = Image.fromarray(np.zeros((300, 500, 3), dtype=np.uint8))
    result = source.segment(image, Prompts(boxes=((100, 100, 200, 250),)))
    assert result.mask.shape == (300, 500)
    assert max(calls[0][-2:]) == 64


def test_threads_on_different_images_get_what_one_thread_gets(sam_model):
    from concurrent.futures import ThreadPoolExecutor

    images = [random_image(90, 70, seed=s) for s in range(4)]
    prompts = [Prompts(((10 + 15 * s, 20),), (True,)) for s in range(4)]
    sequential = SamSource(sam_model, cache=ByteLRU(0))  # no cache: every call encodes
    expected = [sequential.segment(i, p).mask for i, p in zip(images, prompts, strict=True)]
    shared = SamSource(sam_model, cache=ByteLRU(10**8))
    jobs = [(k % 4) for k in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda k: shared.segment(images[k], prompts[k]).mask, jobs))
    for k, mask in zip(jobs, got, strict=True):
        np.testing.assert_array_equal(mask, expected[k])
    assert shared.cache.stats()["misses"] == 4
