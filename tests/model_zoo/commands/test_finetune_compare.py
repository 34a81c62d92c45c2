"""finetune-compare: budgets x seeds x models -> JSON with mean ± s.e., and a plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from model_zoo.commands import finetune_compare as fc
from model_zoo.commands.cli import main as zoo
from model_zoo.data.synth import generate_dataset


def test_mean_sem():
    assert fc.mean_sem([1.0, 2.0, 3.0]) == pytest.approx(
        {"mean": 2.0, "sem": 1.0 / math.sqrt(3), "n": 3}
    )
    assert fc.mean_sem([0.5]) == {"mean": 0.5, "sem": 0.0, "n": 1}
    assert fc.mean_sem([None, float("nan")])["n"] == 0


def test_score_adds_average_precision():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    targets = np.array([0, 1, 1, 1])
    m = fc.score(probs, targets, ["a", "b"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["per_class"]["a"]["ap"] == pytest.approx(1.0)
    assert m["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    assert m["mean_ap"] == pytest.approx((1.0 + m["per_class"]["b"]["ap"]) / 2)


def test_small_run_writes_json_and_plot(tmp_path, capsys):
    data = tmp_path / "synth"
    generate_dataset(data, n=24, classes="crack,rust,no_defect", size=32, seed=2, progress=False)
    out, png = tmp_path / "cmp.json", tmp_path / "cmp.png"
    code = zoo(
        [
            "finetune-compare", "--data", str(data), "--models", "tiny-vit,tiny-convnext",
            "--labels-per-class", "1,3", "--seeds", "2", "--epochs", "1", "--min-steps", "0",
            "--batch", "8", "--json", str(out), "--plot", str(png), "--quiet",
            "--model-dir", str(tmp_path / "models"),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert report["classes"] == ["crack", "rust", "no_defect"]
    assert len(report["runs"]) == 2 * 2 * 2
    assert {r["train_size"] for r in report["runs"]} == {3, 9}
    row = report["summary"]["tiny-vit"]["3"]
    accs = [
        r["accuracy"]
        for r in report["runs"]
        if r["model"] == "tiny-vit" and r["labels_per_class"] == 3
    ]
    assert row["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert row["accuracy"]["n"] == 2
    assert set(row["per_class_ap"]) == {"crack", "rust", "no_defect"}
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 400
    out = capsys.readouterr().out
    assert "| `tiny-convnext` | 3 |" in out
    # the thin-defect class present in the data is called out with its AP and recall
    assert "| crack AP | crack recall |" in out and "net_crack" not in out
    assert report["config"]["train"]["min_steps"] == 0


def test_seed_lists_may_start_at_zero():
    assert fc._seeds("0,2") == [0, 2]
    assert fc._seeds("3") == [0, 1, 2]


def test_focus_table_reports_mean_and_sem_of_thin_classes():
    ap = {"crack": {"mean": 0.5, "sem": 0.1}, "net_crack": {"mean": 0.25, "sem": 0.05}}
    recall = {"crack": {"mean": 0.4, "sem": 0.0}, "net_crack": {"mean": 0.2, "sem": 0.0}}
    report = {
        "classes": ["crack", "net_crack", "rust"],
        "summary": {"m": {"5": {"per_class_ap": ap, "per_class_recall": recall}}},
    }
    row = fc.focus_table(report).splitlines()[-1]
    assert row == "| `m` | 5 | 0.500 ± 0.100 | 0.400 ± 0.000 | 0.250 ± 0.050 | 0.200 ± 0.000 |"
    assert fc.focus_table({**report, "classes": ["rust"]}) == ""


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--labels-per-class", "0,5"], "labels-per-class"),
        (["--models", "no-such-model"], "unknown model"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "1,-2"], "--seeds"),
    ],
)
def test_bad_arguments(tmp_path, capsys, argv, words):
    data = tmp_path / "synth"
    generate_dataset(data, n=6, classes="crack,rust", size=32, seed=0, progress=False)
    base = ["finetune-compare", "--data", str(data), "--models", "tiny-vit", "--json"]
    base += [str(tmp_path / "x.json"), "--quiet", "--epochs", "1"]
    assert zoo(base + argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_missing_data_folder(tmp_path, capsys):
    code = zoo(["finetune-compare", "--data", str(tmp_path / "none"), "--models", "tiny-vit",
                "--json", str(tmp_path / "x.json")])  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_bench_pretrain_measures_a_step():
    from model_zoo.commands.bench_pretrain import measure

    row = measure("tiny", batch=4, steps=1, warmup=1, mask_ratio=0.75)
    assert row["images_per_s"] > 0 and row["peak_rss_mb"] > 0
    assert row["encoder_params_m"] < row["total_params_m"]
