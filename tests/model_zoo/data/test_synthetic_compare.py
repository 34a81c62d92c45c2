"""finetune-compare --synthetic: each run twice, minority recall and AP without and with."""

from __future__ import annotations

import json

import pytest

from model_zoo.commands.cli import main as zoo
from model_zoo.data.dataset import load_dataset
from model_zoo.data.synth import generate_dataset
from tests.model_zoo.data.test_synthetic_mix import write_generated


def test_compare_reports_minority_recall_and_ap_with_and_without(tmp_path, capsys):
    data = tmp_path / "real"
    generate_dataset(
        data, n=24, classes="rust,no_defect", imbalance="rust=0.2,no_defect=0.8", size=32,
        seed=3, progress=False,
    )  # fmt: skip
    assert load_dataset(data).class_counts()["rust"] <= 5
    gen = write_generated(tmp_path / "gen", "rust", n=12)
    out = tmp_path / "cmp.json"
    code = zoo(
        [
            "finetune-compare", "--data", str(data), "--models", "tiny-vit",
            "--labels-per-class", "8", "--seeds", "1", "--epochs", "1", "--min-steps", "0",
            "--json", str(out), "--quiet", "--model-dir", str(tmp_path / "models"),
            "--synthetic", str(gen),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    plain, mixed = sorted(report["runs"], key=lambda r: r["synthetic"])
    assert (plain["synthetic_images"], plain["model"]) == (0, "tiny-vit")
    assert mixed["model"] == "tiny-vit + synthetic" and mixed["synthetic_images"] > 0
    assert mixed["train_size"] == plain["train_size"] + mixed["synthetic_images"]
    assert set(report["summary"]) == {"tiny-vit", "tiny-vit + synthetic"}
    (row,) = report["synthetic_effect"]["rows"]
    assert row["class"] == "rust" and row["synthetic_images"] == mixed["synthetic_images"]
    assert row["recall_without"]["mean"] == pytest.approx(plain["per_class"]["rust"]["recall"])
    assert row["ap_with"]["mean"] == pytest.approx(mixed["per_class"]["rust"]["ap"])
    assert "recall without → with" in capsys.readouterr().out
