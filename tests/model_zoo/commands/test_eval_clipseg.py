"""``python -m model_zoo eval-clipseg`` on synthetic scenes with the tiny random CLIPSeg."""

from __future__ import annotations

import json

import pytest

from model_zoo.commands.cli import main
from model_zoo.data.synth import generate_dataset


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    generate_dataset(root, n=6, size=64, seed=3, scenes=True)
    return root


def test_eval_writes_metrics_and_plot(scenes, tmp_path, capsys):
    out, png = tmp_path / "eval.json", tmp_path / "eval.png"
    code = main(
        [
            "eval-clipseg",
            "--data",
            str(scenes),
            "--ensembles",
            "E1,E2,E3",
            "--json",
            str(out),
            "--plot",
            str(png),
            "--model",
            "tiny-clipseg",
            "--batch-size",
            "4",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["images"] == 6 and report["random_weights"] is True
    assert report["images_encoded"] == 6  # once per image for all three ensembles
    assert report["prompts_encoded"] == 6  # the union of E1..E3's prompts, once each
    assert list(report["ensembles"]) == ["E1", "E2", "E3"]
    for row in report["ensembles"].values():
        for key in (
            "foreground_iou",
            "background_iou",
            "pixel_accuracy",
            "mean_uncertainty",
            "error_rate_top10_uncertain",
        ):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
    assert report["ensembles"]["E3"]["background"][-1] == "natural stone wall"
    assert png.stat().st_size > 1000
    assert "random weights" in capsys.readouterr().out


def test_eval_needs_foreground_masks(tmp_path):
    generate_dataset(tmp_path / "plain", n=2, size=32, seed=0, scenes=False)
    with pytest.raises(SystemExit, match="--scenes"):
        main(
            [
                "eval-clipseg",
                "--data",
                str(tmp_path / "plain"),
                "--json",
                str(tmp_path / "x.json"),
                "--model",
                "tiny-clipseg",
            ]
        )
