"""LoRA fine-tuning: save/load round trip, resumable checkpoints, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model_zoo.commands.cli import main as zoo
from model_zoo.diffusion.lora import LoraSettings, lora_state, train_lora
from model_zoo.diffusion.paired import GenerationSettings, generate_pair
from model_zoo.diffusion.pipeline import DiffusionError, load_pipeline


def _settings(pipe_dir, images, out, **kw):
    base = dict(
        model=str(pipe_dir),
        images=str(images),
        prompt="a big crack",
        out=str(out),
        steps=3,
        checkpoint_every=2,
        device="cpu",
        progress=False,
    )
    return LoraSettings(**{**base, **kw})


def test_lora_save_load_round_trip(tiny_pipe_dir, class_images, tmp_path):
    out = tmp_path / "lora"
    result = train_lora(_settings(tiny_pipe_dir, class_images, out))
    assert result.steps == 3 and len(result.history) == 3
    saved = load_file(out / "pytorch_lora_weights.safetensors")
    assert saved and all(k.startswith("unet.") for k in saved)
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.bin"))  # no pickles

    plain = load_pipeline(str(tiny_pipe_dir), device="cpu")
    tuned = load_pipeline(str(tiny_pipe_dir), device="cpu", lora=out)
    loaded = lora_state(tuned.unet)
    checkpoint = load_file(out / "checkpoint" / "lora.safetensors")
    assert len(loaded) == len(checkpoint) > 0
    for (_, a), (_, b) in zip(sorted(loaded.items()), sorted(checkpoint.items()), strict=True):
        assert torch.allclose(a.float(), b.float())
    fast = GenerationSettings(steps=2)
    a = generate_pair(plain, "a big crack", "wall", 1, fast).defect
    b = generate_pair(tuned, "a big crack", "wall", 1, fast).defect
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_resumed_training_equals_an_uninterrupted_run(tiny_pipe_dir, class_images, tmp_path):
    straight = train_lora(_settings(tiny_pipe_dir, class_images, tmp_path / "a", steps=4))
    train_lora(_settings(tiny_pipe_dir, class_images, tmp_path / "b", steps=2))
    resumed = train_lora(_settings(tiny_pipe_dir, class_images, tmp_path / "b", steps=4))
    assert resumed.resumed_at == 2 and resumed.steps == 4
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], rel=1e-5
    )
    a = load_file(tmp_path / "a" / "pytorch_lora_weights.safetensors")
    b = load_file(tmp_path / "b" / "pytorch_lora_weights.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(DiffusionError, match="other settings"):
        train_lora(_settings(tiny_pipe_dir, class_images, tmp_path / "b", steps=5, rank=8))


def test_prior_preservation_generates_prior_images(tiny_pipe_dir, class_images, tmp_path):
    out = tmp_path / "lora"
    settings = _settings(
        tiny_pipe_dir, class_images, out, steps=1, prior_prompt="a wall", num_prior=2, prior_steps=1
    )
    train_lora(settings)
    assert len(list((out / "prior").glob("prior-*.png"))) == 2


def test_finetune_diffusion_command_and_bad_inputs(tiny_pipe_dir, class_images, tmp_path, capsys):
    args = ["finetune-diffusion", "--model", str(tiny_pipe_dir), "--device", "cpu", "--quiet"]
    out = tmp_path / "lora"
    ok = ["--images", str(class_images), "--prompt", "a crack", "--out", str(out), "--steps", "1"]
    assert zoo([*args, *ok]) == 0
    assert "LoRA trained 1 step(s)" in capsys.readouterr().out
    assert zoo([*args, "--images", str(class_images), "--prompt", " ", "--out", str(out)]) == 2
    assert "--prompt is empty" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert zoo([*args, "--images", str(empty), "--prompt", "a crack", "--out", str(out)]) == 2
    assert "holds no images" in capsys.readouterr().err
