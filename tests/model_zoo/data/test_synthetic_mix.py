"""Synthetic images join the training part of minority classes only, and are recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from model_zoo.commands.cli import main as zoo
from model_zoo.data.dataset import DatasetError, load_dataset
from model_zoo.data.synth import generate_dataset
from model_zoo.data.synthetic_mix import (
    match_label,
    minority_classes,
    plan_mix,
    split_off_synthetic,
)
from model_zoo.diffusion.paired import PairedSample
from model_zoo.diffusion.writer import PairWriter


def write_generated(out, class_name="rust", n=3, size=32):
    """A generated folder written by the real writer (images from plain arrays, no diffusion)."""
    writer = PairWriter(out, class_name, "no_defect")
    rng = np.random.default_rng(0)
    for seed in range(n):
        defect = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        twin = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        info = {"model": "test", "prompt": f"{class_name} on a wall", "paired_prompt": "a wall"}
        writer.write(PairedSample(seed, defect, twin), np.zeros((size, size), bool), info)
    return out


def test_match_label_and_minority_classes():
    assert match_label("no_defect", ["Crack", "No defect"]) == "No defect"
    assert match_label("exposed_rebar", ["Exposed rebar"]) == "Exposed rebar"
    assert match_label("crack", ["Net crack"]) is None
    counts = {"crack": 10, "rust": 4, "algae": 5, "no_defect": 9}
    assert minority_classes(counts) == ["rust"]
    assert minority_classes(counts, ["Algae", "crack"]) == ["crack", "algae"]


def test_plan_fills_minority_classes_up_to_the_largest(tmp_path):
    folder = write_generated(tmp_path / "gen", "rust", n=5)
    mix = plan_mix(folder, {"rust": 2, "no_defect": 5})
    assert mix.per_class() == {"rust": 3}  # 5 - 2; the twins' class is not a minority
    assert all(path.parent.name == "rust" and path.is_file() for path, _ in mix.images)
    capped = plan_mix(folder, {"rust": 0, "no_defect": 9}, max_per_class=2)
    assert capped.summary()["synthetic_images"] == 2
    assert plan_mix(None, {"rust": 1}).summary()["synthetic_images"] == 0
    with pytest.raises(DatasetError, match="manifest"):
        plan_mix(tmp_path, {"rust": 1})


def test_synthetic_files_inside_a_dataset_are_split_off(tmp_path):
    folder = write_generated(tmp_path / "gen", "rust", n=2)
    dataset, synthetic = split_off_synthetic(load_dataset(folder))
    assert len(dataset) == 0 and len(synthetic) == 4
    data = tmp_path / "real"
    generate_dataset(data, n=8, classes="rust,no_defect", size=32, seed=0, progress=False)
    real, none = split_off_synthetic(load_dataset(data))
    assert len(real) == 8 and none == []


def test_finetune_mixes_into_training_only_and_records_the_count(tmp_path, capsys):
    data = tmp_path / "real"
    generate_dataset(
        data,
        n=20,
        classes="rust,no_defect",
        imbalance="rust=0.15,no_defect=0.85",
        size=32,
        seed=1,
        progress=False,
    )
    counts = load_dataset(data).class_counts()
    assert counts["rust"] < counts["no_defect"] / 2
    gen = write_generated(tmp_path / "gen", "rust", n=20)
    out = tmp_path / "model"
    args = ["finetune", "--data", str(data), "--model", "tiny-vit", "--out", str(out)]
    args += ["--epochs", "1", "--synthetic", str(gen), "--model-dir", str(tmp_path / "zoo")]
    assert zoo(args) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "fm_inspect.json").read_text())
    assert meta["synthetic_images"] == meta["synthetic_per_class"]["rust"] > 0
    assert f"+ {meta['synthetic_images']} synthetic" in printed
    tested = sum(row["support"] for row in meta["metrics"]["per_class"].values())
    assert tested < counts["rust"] + counts["no_defect"]  # the test split holds real images only
