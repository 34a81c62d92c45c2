"""bench-acquisition: every strategy timed, MC sampling counted for those that read it, and
the totals set beside the baseline's."""

from __future__ import annotations

import argparse
import json

from model_zoo.commands import bench_acquisition


def test_bench_times_the_split_beside_the_baseline(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench_acquisition.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(
        ["--n", "400", "--dim", "16", "--labeled", "80", "--batch", "10", "--mc-samples", "4"]
        + ["--strategies", "minority-split,margin", "--json", str(out)]
    )
    assert bench_acquisition.run(args) == 0
    printed = capsys.readouterr().out
    assert "minority-split" in printed and "x discriminator" in printed
    timings = json.loads(out.read_text())["strategies"]
    assert set(timings) == {"minority-split", "margin", "discriminator"}
    split, margin = timings["minority-split"], timings["margin"]
    assert split["mc_s"] > 0 and margin["mc_s"] == 0  # the split's other part reads BALD
    assert "x_baseline" not in timings["discriminator"], "timed as the baseline only"
    for t in (split, margin):
        assert t["total_s"] >= t["score_s"] and t["x_baseline"] > 0
