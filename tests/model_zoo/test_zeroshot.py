"""Zero-shot class scores from CLIP, with a tiny CLIP the test builds and saves."""

from __future__ import annotations

import numpy as np
import pytest

from model_zoo.loading import ModelLoadError
from model_zoo.zeroshot import TEMPLATES, class_phrase, load_zero_shot
from tests.images import random_image


def save_tiny_clip(folder) -> str:
    """A 2-layer CLIP with random weights and the in-memory byte-level tokenizer, saved."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from model_zoo.clipseg.model import byte_level_tokenizer

    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 2}  # fmt: skip
    config = CLIPConfig(
        text_config={**small, "vocab_size": 514, "max_position_embeddings": 77,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={**small, "image_size": 64, "patch_size": 16},
        projection_dim=16,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 64}, crop_size=64)
    CLIPProcessor(
        image_processor=image_processor, tokenizer=byte_level_tokenizer()
    ).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_probabilities_over_the_class_names(tiny_clip):
    model = load_zero_shot(tiny_clip, device="cpu")
    images = [random_image(seed=s) for s in range(3)]
    probs = model.predict_proba(images, ["crack", "no_defect", "rust"])
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # the prompt embeddings are computed once per class list
    first = model.class_embeddings(["crack", "no_defect", "rust"])
    assert model.class_embeddings(["crack", "no_defect", "rust"]) is first
    assert first.shape[0] == 3


def test_class_names_read_as_words():
    assert class_phrase("No defect").startswith("an intact concrete surface")
    assert class_phrase("spalling") == "spalling"
    assert all("{}" in t for t in TEMPLATES)


def test_a_classifier_name_is_not_a_clip_model():
    with pytest.raises(ModelLoadError, match="not a CLIP model"):
        load_zero_shot("tiny-vit")


def test_an_unreachable_model_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_zero_shot(str(tmp_path / "missing-clip"))
    with pytest.raises(ModelLoadError, match="leave ZERO_SHOT_MODEL empty"):
        load_zero_shot("some-org/clip-offline")  # the hub is unreachable in tests
