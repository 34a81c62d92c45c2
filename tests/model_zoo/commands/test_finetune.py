"""``python -m model_zoo finetune`` with a folder of unlabeled images (--unlabeled)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from model_zoo.commands.cli import main as zoo
from model_zoo.data.synth import generate_dataset


def _unlabeled_folder(folder, n: int):
    """``n`` readable images (some in a sub-folder), one broken PNG, a hidden image and a
    text file."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        where = folder / "sub" if i % 2 else folder
        pixels = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(where / f"u{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / ".hidden.png")
    (folder / "notes.txt").write_text("not an image")


def _args(data, out, model, model_dir):
    return [
        "finetune", "--data", str(data), "--model", str(model), "--out", str(out),
        "--epochs", "1", "--model-dir", str(model_dir), "--device", "cpu",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "synth"
    generate_dataset(folder, n=24, classes="crack,no_defect", size=32, seed=0, progress=False)
    return folder


def test_finetune_learns_from_an_unlabeled_folder_and_records_what_it_read(
    data, timm_cnn, tmp_path, capsys
):
    pool = tmp_path / "unlabeled"
    _unlabeled_folder(pool, 34)  # AdaBN needs 32 at least
    out = tmp_path / "model"
    args = _args(data, out, timm_cnn, tmp_path / "zoo")
    assert zoo([*args, "--unlabeled", str(pool), "--self-training", "--adabn"]) == 0
    metrics = json.loads((out / "fm_inspect.json").read_text())["metrics"]
    assert metrics["unlabeled_read"] == {
        "folder": str(pool.resolve()), "found": 35, "read": 34, "unreadable": 1
    }  # fmt: skip
    assert metrics["unlabeled_pool"] == 34 and metrics["adabn_images"] == 34
    assert metrics["self_training"]["pool"] == 34
    printed = capsys.readouterr().out
    assert "34 unlabeled images" in printed and "AdaBN on 34" in printed
    assert "34 of 35 images read" in printed and "1 unreadable, skipped" in printed


def test_unlabeled_max_draws_a_subset_and_without_a_folder_nothing_is_read(
    data, timm_cnn, tmp_path
):
    pool = tmp_path / "unlabeled"
    _unlabeled_folder(pool, 12)
    args = _args(data, tmp_path / "capped", timm_cnn, tmp_path / "zoo")
    assert zoo([*args, "--unlabeled", str(pool), "--self-training", "--unlabeled-max", "5"]) == 0
    metrics = json.loads((tmp_path / "capped" / "fm_inspect.json").read_text())["metrics"]
    assert metrics["unlabeled_read"]["read"] + metrics["unlabeled_read"]["unreadable"] == 5
    assert metrics["adabn_images"] == 0  # --adabn not asked for
    args = _args(data, tmp_path / "plain", timm_cnn, tmp_path / "zoo")
    assert zoo(args) == 0
    metrics = json.loads((tmp_path / "plain" / "fm_inspect.json").read_text())["metrics"]
    assert "unlabeled_read" not in metrics and metrics["unlabeled_pool"] == 0


def test_a_missing_or_empty_unlabeled_folder_and_self_training_without_one_say_what_to_do(
    data, timm_cnn, tmp_path
):
    args = _args(data, tmp_path / "m", timm_cnn, tmp_path / "zoo")
    with pytest.raises(SystemExit, match="give them with --unlabeled DIR"):
        zoo([*args, "--self-training"])
    with pytest.raises(SystemExit, match="is not a folder of images"):
        zoo([*args, "--unlabeled", str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(SystemExit, match="holds no images"):
        zoo([*args, "--unlabeled", str(tmp_path / "empty")])
    assert not (tmp_path / "m").exists()  # nothing trained or saved
