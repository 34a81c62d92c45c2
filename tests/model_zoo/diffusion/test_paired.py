"""Paired generation: one seeded latent for both prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_zoo.diffusion.attention import token_positions
from model_zoo.diffusion.paired import GenerationSettings, generate_pair, initial_latent

FAST = GenerationSettings(steps=2, guidance=3.0)


def _arr(image):
    return np.asarray(image, dtype=np.int16)


def test_initial_latent_depends_on_the_seed_only(tiny_pipe):
    a = initial_latent(tiny_pipe, 5, 32, 32)
    assert a.shape == (1, tiny_pipe.unet.config.in_channels, 16, 16)
    assert torch.equal(a, initial_latent(tiny_pipe, 5, 32, 32))
    assert not torch.equal(a, initial_latent(tiny_pipe, 6, 32, 32))
    with pytest.raises(ValueError, match="multiples"):
        initial_latent(tiny_pipe, 5, 33, 32)


def test_both_prompts_start_from_the_same_latent(tiny_pipe, monkeypatch):
    seen = {}
    original = type(tiny_pipe).__call__

    def spy(self, **kwargs):
        seen.update(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(type(tiny_pipe), "__call__", spy)
    generate_pair(tiny_pipe, "big crack on a wall", "a wall", 11, FAST)
    latents = seen["latents"]
    assert seen["prompt"] == ["big crack on a wall", "a wall"]
    assert latents.shape[0] == 2 and torch.equal(latents[0], latents[1])
    assert torch.equal(latents[:1], initial_latent(tiny_pipe, 11, 32, 32))


def test_equal_prompts_give_identical_images(tiny_pipe):
    sample = generate_pair(tiny_pipe, "a concrete wall", "a concrete wall", 3, FAST)
    assert sample.defect.size == sample.twin.size == (32, 32)
    assert np.array_equal(_arr(sample.defect), _arr(sample.twin))


def test_same_seed_reproduces_and_prompts_change_the_image(tiny_pipe):
    a = generate_pair(tiny_pipe, "big crack on a wall", "a wall", 4, FAST)
    b = generate_pair(tiny_pipe, "big crack on a wall", "a wall", 4, FAST)
    c = generate_pair(tiny_pipe, "big crack on a wall", "a wall", 5, FAST)
    assert np.array_equal(_arr(a.defect), _arr(b.defect))
    assert not np.array_equal(_arr(a.defect), _arr(a.twin))
    assert not np.array_equal(_arr(a.defect), _arr(c.defect))


def test_attention_map_of_the_defect_token(tiny_pipe):
    settings = GenerationSettings(steps=2, guidance=3.0, attention_token="crack")
    sample = generate_pair(tiny_pipe, "big crack on a wall", "a wall", 4, settings)
    assert sample.attention.shape == (32, 32)
    assert sample.attention.min() >= 0.0 and sample.attention.max() == pytest.approx(1.0)
    plain = generate_pair(tiny_pipe, "big crack on a wall", "a wall", 4, FAST)
    assert np.array_equal(_arr(sample.defect), _arr(plain.defect))  # recording changes nothing
    with pytest.raises(ValueError, match="does not occur"):
        generate_pair(
            tiny_pipe, "a wall", "a wall", 0, GenerationSettings(steps=1, attention_token="rust")
        )


def test_token_positions(tiny_pipe):
    tok = tiny_pipe.tokenizer
    ids = tok("a crack").input_ids
    positions = token_positions(tok, "a crack", "crack")
    assert [ids[i] for i in positions] == tok("crack", add_special_tokens=False).input_ids
