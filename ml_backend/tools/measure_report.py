"""``python -m ml_backend measure --project N --out report.csv``: defect measures per region.

Reads every task of the project (annotations and predictions) and writes one CSV row per
connected region of every ``brushlabels`` result: task, whether it is a prediction or an
annotation (and its model version), label, area, length, mean and max width in pixels, and in
millimetres when a scale is known: ``--mm-per-pixel``, or a per-task data field named by
``--scale-field`` (e.g. a drone's ground sampling distance per image, in mm per pixel).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ml_backend.controls.brush import decode_mask
from model_zoo.measure import check_scale, label_regions, measure_region

log = logging.getLogger(__name__)

COLUMNS = [
    "task",
    "source",
    "model_version",
    "result_id",
    "label",
    "region",
    "area_px",
    "length_px",
    "mean_width_px",
    "max_width_px",
    "mm_per_pixel",
    "area_mm2",
    "length_mm",
    "mean_width_mm",
    "max_width_mm",
    "problem",
]


def _scale(task: dict, scale_field: str | None, default: float | None) -> float | None:
    if scale_field:
        value = (task.get("data") or {}).get(scale_field)
        if value not in (None, ""):
            return check_scale(value)
    return default


def _item_rows(item: dict, base: dict, scale: float | None) -> Iterator[dict]:
    value = item.get("value") or {}
    label = ",".join(value.get("brushlabels") or [])
    row = {**base, "result_id": item.get("id", ""), "label": label}
    try:
        mask = decode_mask(value["rle"], int(item["original_height"]), int(item["original_width"]))
    except Exception as exc:  # a bad region is a row saying so, never the end of the report
        yield {**row, "problem": f"undecodable mask: {exc}"}
        return
    labels, count = label_regions(mask)
    if not count:
        yield {**row, "problem": "empty mask"}
    for index in range(1, count + 1):
        m = measure_region(labels == index, scale).as_dict()
        yield {**row, "region": index, **{k: _round(m.get(k)) for k in COLUMNS if k in m}}


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


def measure_rows(
    tasks: Iterable[dict], scale_field: str | None = None, mm_per_pixel: float | None = None
) -> Iterator[dict]:
    """CSV rows (dicts over :data:`COLUMNS`) for the brush results of ``tasks`` (task JSON
    with ``annotations`` and ``predictions``, as the API returns them)."""
    default = check_scale(mm_per_pixel)
    for task in tasks:
        try:
            scale = _scale(task, scale_field, default)
        except ValueError as exc:
            yield {"task": task.get("id"), "problem": f"{scale_field}: {exc}"}
            continue
        for source, key in (("annotation", "annotations"), ("prediction", "predictions")):
            for record in task.get(key) or []:
                if record.get("was_cancelled"):
                    continue
                base = {
                    "task": task.get("id"),
                    "source": source,
                    "model_version": record.get("model_version") or "",
                    "mm_per_pixel": scale,
                }
                for item in record.get("result") or []:
                    if item.get("type") == "brushlabels":
                        yield from _item_rows(item, base, scale)


def write_csv(rows: Iterable[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=int, required=True, help="Label Studio project id")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--mm-per-pixel", type=float, default=None, help="image scale")
    parser.add_argument("--scale-field", default=None, help="task data field with mm per pixel")


def run(args: argparse.Namespace) -> int:
    from ml_backend.labelstudio.retries import ls_client
    from ml_backend.settings import Settings
    from ml_backend.training.annotations import iter_tasks

    try:
        client = ls_client(Settings.from_env())
        tasks = list(iter_tasks(client, args.project))
        count = write_csv(measure_rows(tasks, args.scale_field, args.mm_per_pixel), Path(args.out))
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"measure: {exc}", file=sys.stderr)
        return 1
    print(f"measure: {count} region rows from {len(tasks)} tasks written to {args.out}")
    return 0
