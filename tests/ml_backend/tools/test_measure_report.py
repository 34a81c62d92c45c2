"""The measure report: one CSV row per brush region, annotations and predictions."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ml_backend.controls.brush import encode_mask
from ml_backend.tools.measure_report import measure_rows, write_csv


def _item(mask, label="Crack", **extra):
    h, w = mask.shape
    return {
        "id": "r1",
        "type": "brushlabels",
        "original_width": w,
        "original_height": h,
        "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]},
        **extra,
    }


def _task():
    bar = np.zeros((40, 60), bool)
    bar[10:13, 5:45] = True  # 3 px wide, 40 px long
    bar[30:32, 50:55] = True  # a second component of the same region
    return {
        "id": 4,
        "data": {"image": "x", "gsd": "0.5"},
        "annotations": [{"result": [_item(bar)]}],
        "predictions": [
            {"model_version": "p1-v2", "result": [_item(bar, "Rust"), {"type": "choices"}]}
        ],
    }


def test_one_row_per_component_per_source_with_scale_from_the_task(tmp_path):
    rows = list(measure_rows([_task()], scale_field="gsd"))
    assert [(r["source"], r["region"]) for r in rows] == [
        ("annotation", 1),
        ("annotation", 2),
        ("prediction", 1),
        ("prediction", 2),
    ]
    first = rows[0]
    assert first["area_px"] == 120 and first["max_width_px"] == pytest.approx(3.0)
    assert first["length_px"] == pytest.approx(40, rel=0.1)
    assert first["length_mm"] == pytest.approx(first["length_px"] * 0.5, abs=0.01)
    assert rows[2]["label"] == "Rust" and rows[2]["model_version"] == "p1-v2"
    out = tmp_path / "r.csv"
    assert write_csv(rows, out) == 4
    read = list(csv.DictReader(out.open()))
    assert read[0]["task"] == "4" and read[0]["source"] == "annotation"


def test_bad_regions_and_scales_are_rows_that_say_so():
    task = _task()
    task["annotations"][0]["result"].append(
        {"type": "brushlabels", "original_width": 3, "original_height": 3, "value": {"rle": [1]}}
    )
    rows = list(measure_rows([task]))
    assert any("undecodable" in (r.get("problem") or "") for r in rows)
    assert all(r.get("length_mm") is None for r in rows)
    bad = {**_task(), "data": {"gsd": "-2"}}
    (row,) = list(measure_rows([bad], scale_field="gsd"))
    assert "mm_per_pixel" in row["problem"]
