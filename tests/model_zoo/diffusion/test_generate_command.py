"""``python -m model_zoo generate`` end to end on the tiny pipeline, and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from model_zoo.commands.cli import main as zoo
from model_zoo.data.dataset import load_dataset
from model_zoo.diffusion.pipeline import DiffusionError, load_pipeline


def _generate(pipe_dir, out, *extra, n="2", prompt="big crack on a wall", paired="a wall"):
    return zoo(
        [
            "generate",
            "--model",
            str(pipe_dir),
            "--prompt",
            prompt,
            "--paired-prompt",
            paired,
            "--class",
            "crack",
            "--n",
            n,
            "--out",
            str(out),
            "--steps",
            "2",
            "--seed",
            "7",
            "--device",
            "cpu",
            "--quiet",
            *extra,
        ]
    )


def test_generate_writes_the_dataset_layout_and_manifest(tiny_pipe_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    assert _generate(tiny_pipe_dir, out, "--attention-token", "crack") == 0
    assert "wrote 2 pairs" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["files"]
    assert manifest["synthetic"] is True and len(files) == 4
    assert all(f["synthetic"] and f["model"] == str(tiny_pipe_dir.resolve()) for f in files)
    defects = [f for f in files if f["role"] == "defect"]
    twins = [f for f in files if f["role"] == "twin"]
    assert [f["seed"] for f in defects] == [7, 8] == [f["seed"] for f in twins]
    assert {f["prompt"] for f in defects} == {"big crack on a wall"}
    assert {f["prompt"] for f in twins} == {"a wall"}
    for f in defects:
        assert f["path"].startswith("images/crack/") and f["twin"].startswith("images/no_defect/")
        mask = np.asarray(Image.open(out / f["mask"]))
        assert mask.shape == (32, 32) and set(np.unique(mask)) <= {0, 255}
    for f in files:
        assert (out / f["path"]).is_file()
    dataset = load_dataset(out)
    assert dataset.class_counts() == {"crack": 2, "no_defect": 2}
    assert all(s.mask_path is not None for s in dataset if s.label == "crack")


def test_append_continues_and_non_empty_out_is_refused(tiny_pipe_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    assert _generate(tiny_pipe_dir, out, n="1") == 0
    assert _generate(tiny_pipe_dir, out, n="1") == 2
    assert "not empty" in capsys.readouterr().err
    assert _generate(tiny_pipe_dir, out, "--append", n="1") == 0
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert len(files) == 4 and len({f["path"] for f in files}) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "  "}, "--prompt is empty"),
        ({"paired": ""}, "--paired-prompt is empty"),
        ({"n": "0"}, "--n must be at least 1"),
    ],
)
def test_bad_inputs_are_clear_errors(tiny_pipe_dir, tmp_path, capsys, kwargs, message):
    assert _generate(tiny_pipe_dir, tmp_path / "gen", **kwargs) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "gen").exists()


def test_a_directory_that_is_not_a_pipeline(tmp_path, capsys):
    not_a_pipe = tmp_path / "weights"
    not_a_pipe.mkdir()
    (not_a_pipe / "config.json").write_text("{}")
    assert _generate(not_a_pipe, tmp_path / "gen") == 2
    assert "is not a diffusion pipeline" in capsys.readouterr().err
    (not_a_pipe / "model_index.json").write_text(json.dumps({"_class_name": "Foo"}))
    with pytest.raises(DiffusionError, match="not a text-to-image diffusion pipeline"):
        load_pipeline(str(not_a_pipe), device="cpu")
    with pytest.raises(DiffusionError, match="model is empty"):
        load_pipeline("", device="cpu")


def test_lora_dir_without_weights(tiny_pipe_dir, tmp_path, capsys):
    assert _generate(tiny_pipe_dir, tmp_path / "gen", "--lora", str(tmp_path)) == 2
    assert "pytorch_lora_weights.safetensors" in capsys.readouterr().err
