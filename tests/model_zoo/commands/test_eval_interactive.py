"""``eval-interactive``: simulated clicks on true masks, IoU after 1 and N clicks."""

from __future__ import annotations

import json

import numpy as np

from model_zoo.commands.cli import main
from model_zoo.commands.eval_interactive import farthest_inside, next_click
from model_zoo.data.synth import generate_dataset


def test_the_first_click_is_deep_inside_and_the_next_one_on_the_largest_error():
    truth = np.zeros((20, 20), bool)
    truth[5:15, 5:15] = True
    x, y = farthest_inside(truth)
    assert 8 <= x <= 11 and 8 <= y <= 11
    pred = truth.copy()
    pred[5:15, 5:8] = False  # a missed strip
    (x, y), positive = next_click(pred, truth)
    assert positive and 5 <= x <= 8
    pred = truth.copy()
    pred[0:3, :] = True  # a false strip
    (_, y), positive = next_click(pred, truth)
    assert not positive and y < 3


def test_eval_interactive_reports_iou_after_one_and_three_clicks(tmp_path):
    generate_dataset(tmp_path / "data", n=12, seed=0, classes=["crack", "rust", "no_defect"])
    out = tmp_path / "inter.json"
    assert main(["eval-interactive", "--data", str(tmp_path / "data"), "--images", "4",
                 "--json", str(out)]) == 0  # fmt: skip
    (row,) = json.loads(out.read_text())["results"]
    assert row["source"] == "fallback"
    for key in ("iou_1_click", "iou_3_clicks", "iou_box"):
        assert 0.0 <= row[key] <= 1.0
    assert row["iou_1_click"] > 0.1  # synthetic defects are easy to click
