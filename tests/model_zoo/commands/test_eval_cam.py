"""``eval-cam`` end to end on a tiny synthetic set: baselines and CAM rows scored, report written."""

from __future__ import annotations

import json

from model_zoo.commands.cli import main
from model_zoo.data.synth import generate_dataset


def test_eval_cam_scores_baselines_and_cams_and_writes_its_report(tmp_path, capsys):
    generate_dataset(tmp_path / "data", n=24, seed=0, classes=["crack", "rust", "no_defect"])
    report_path = tmp_path / "eval.json"
    code = main(
        ["eval-cam", "--data", str(tmp_path / "data"), "--model", "tiny-vit", "--epochs", "1",
         "--methods", "gradcam", "--layers", "last", "--refine", "none,ridge",
         "--json", str(report_path), "--plot", str(tmp_path / "overlays.png")]
    )  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text())
    rows = report["results"]
    assert {"intensity", "gradcam/last", "gradcam/last+ridge"} <= set(rows)
    for row in rows.values():
        assert 0.0 <= row["overall"]["iou"] <= 1.0
    assert report["test_defect_images"] > 0 and (tmp_path / "overlays.png").is_file()
    assert "gradcam/last+ridge" in capsys.readouterr().out
