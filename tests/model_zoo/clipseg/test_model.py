"""CLIPSeg loading, shared encoding, the prompt cache and odd inputs (tiny random model)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_zoo.clipseg.model import PromptError, clean_prompts, load_clipseg
from model_zoo.loading import ModelLoadError
from model_zoo.registry import ZOO
from tests.images import random_image

PROMPTS = ["concrete", "water", "sky", "natural stone wall"]


@pytest.fixture(scope="module")
def tiny():
    return load_clipseg("tiny-clipseg", device="cpu")


def test_zoo_entries():
    assert ZOO["clipseg-rd64-refined"].hub_id == "CIDAS/clipseg-rd64-refined"
    assert ZOO["tiny-clipseg"].is_random and ZOO["random-clipseg-base"].is_random
    assert {ZOO[n].family for n in ("clipseg-rd64-refined", "tiny-clipseg")} == {"clipseg"}


def test_random_weights_are_deterministic(tiny):
    again = load_clipseg("tiny-clipseg", device="cpu")
    image = random_image(64, 48, seed=1)
    a = tiny.prompt_logits([image], ["concrete"])[0]
    b = again.prompt_logits([image], ["concrete"])[0]
    assert np.array_equal(a, b)
    assert tiny.version == "tiny-clipseg-random-seed0"
    assert tiny.input_size == 96 and tiny.max_tokens == 77


def test_shared_encoding_equals_one_full_call_per_prompt(tiny):
    images = [random_image(70, 50, seed=2), random_image(40, 90, seed=3)]
    shared = tiny.prompt_logits(images, PROMPTS)
    for image, logits in zip(images, shared, strict=True):
        naive = tiny.naive_logits(image, PROMPTS)
        assert logits.shape == naive.shape == (len(PROMPTS), 96, 96)
        scale = np.abs(naive).max()
        assert np.abs(logits - naive).max() <= 1e-4 * scale
    # different prompts do give different maps (the comparison above is not vacuous)
    assert np.abs(shared[0][0] - shared[0][1]).mean() > 1e-3 * np.abs(shared[0]).max()


def test_images_encoded_once_and_prompts_cached(tiny):
    tiny.stats.update(images_encoded=0, prompts_encoded=0, prompt_cache_hits=0)
    images = [random_image(50, 50, seed=i) for i in range(5)]
    tiny.prompt_logits(images, ["a unique prompt", "another unique prompt"], batch_size=2)
    assert tiny.stats["images_encoded"] == 5
    assert tiny.stats["prompts_encoded"] == 2
    tiny.prompt_logits(images[:1], ["another unique prompt", "a third one"])
    assert tiny.stats["prompts_encoded"] == 3 and tiny.stats["prompt_cache_hits"] == 1


def test_batching_does_not_change_results(tiny):
    images = [random_image(60, 40, seed=i) for i in range(3)]
    one_by_one = [tiny.prompt_logits([im], PROMPTS)[0] for im in images]
    batched = tiny.prompt_logits(images, PROMPTS, batch_size=3)
    for a, b in zip(one_by_one, batched, strict=True):
        assert np.allclose(a, b, atol=1e-3 * np.abs(a).max())


@pytest.mark.parametrize(
    "prompts, message",
    [([], "empty"), (["", "   "], "empty"), (["x" * 2000], "too long"), ([3], "text")],
)
def test_bad_prompt_lists_are_refused(tiny, prompts, message):
    with pytest.raises(PromptError, match=message):
        tiny.prompt_logits([random_image(32, 32)], prompts)


def test_prompts_are_normalised():
    assert clean_prompts(["  natural   stone wall ", "sky", "sky", ""]) == [
        "natural stone wall",
        "sky",
    ]


def test_long_prompts_are_truncated_to_clip_context(tiny, caplog):
    long = " ".join(["bridge"] * 120)  # about 840 byte-level tokens
    logits = tiny.prompt_logits([random_image(32, 32)], [long, "sky"])[0]
    assert logits.shape == (2, 96, 96) and np.isfinite(logits).all()
    assert "CLIP reads the first 77" in caplog.text


@pytest.mark.parametrize("size", [(1, 1), (3, 500), (1200, 20), (352, 352), (2000, 1500)])
def test_image_sizes_far_from_the_input_size(tiny, size):
    (logits,) = tiny.prompt_logits([random_image(*size)], ["concrete"])
    assert logits.shape == (1, 96, 96) and np.isfinite(logits).all()


def test_mixed_modes_in_one_batch(tiny):
    images = [
        random_image(40, 30, mode="L"),
        random_image(30, 40, mode="RGBA"),
        Image.fromarray(np.full((20, 20), 40000, np.uint16)),
    ]
    out = tiny.prompt_logits(images, ["concrete", "sky"])
    assert [o.shape for o in out] == [(2, 96, 96)] * 3


def test_local_directory_round_trip(tiny, tmp_path):
    tiny.save(tmp_path / "clipseg")
    loaded = load_clipseg(str(tmp_path / "clipseg"), device="cpu")
    image = random_image(50, 50, seed=9)
    assert np.allclose(
        loaded.prompt_logits([image], PROMPTS)[0],
        tiny.prompt_logits([image], PROMPTS)[0],
        atol=1e-4,
    )
    assert loaded.version.startswith("clipseg-")


def test_missing_weights_say_what_to_do(tmp_path):
    with pytest.raises(ModelLoadError, match="hf download CIDAS/clipseg-rd64-refined"):
        load_clipseg("clipseg-rd64-refined", model_dir=tmp_path)


def test_a_classifier_name_is_refused():
    with pytest.raises(ModelLoadError, match="not CLIPSeg"):
        load_clipseg("tiny-vit")
