"""``bench-cam --segmentation``: the tiled rows next to the forward pass, a big photo's memory."""

from __future__ import annotations

import json

from model_zoo.commands.cli import main


def test_bench_cam_adds_tiled_segmentation_rows_and_a_photo_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(
        ["bench-cam", "--model", "tiny-vit", "--configs", "gradcam/last", "--size", "160",
         "--batch", "2", "--repeats", "1", "--threads", "1", "--segmentation", "tiny-random",
         "--seg-max-sides", "0,64", "--memory-size", "300", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    tiled = [r for r in report["rows"] if r["config"].startswith("Choices + segmentation")]
    assert len(tiled) == 2
    full, bounded = tiled
    assert full["regions_per_image"] > bounded["regions_per_image"] == 1  # tiles per image
    assert all(r["ratio_to_forward"] > 0 for r in tiled)
    memory = report["photo_memory"]
    assert memory["map_shape"] == [300, 300] and memory["peak_mb"] >= memory["before_mb"] > 0
    assert "peak RSS" in capsys.readouterr().out
