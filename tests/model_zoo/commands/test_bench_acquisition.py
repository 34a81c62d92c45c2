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
        + ["--strategies", "minority-split,bald", "--json", str(out)]
    )
    assert bench_acquisition.run(args) == 0
    printed = capsys.readouterr().out
    assert "minority-split" in printed and "x discriminator" in printed
    timings = json.loads(out.read_text())["strategies"]
    assert set(timings) == {"minority-split", "bald", "discriminator"}
    split, bald = timings["minority-split"], timings["bald"]
    assert bald["mc_s"] > 0 and split["mc_s"] == 0  # the split's other part: margin, no MC
    assert "x_baseline" not in timings["discriminator"], "timed as the baseline only"
    for t in (split, bald):
        assert t["total_s"] >= t["score_s"] and t["x_baseline"] > 0
