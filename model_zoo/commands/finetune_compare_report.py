"""The tables of a ``finetune-compare`` report (Markdown) and its summary statistics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from model_zoo.commands.finetune_compare_plot import FOCUS


def mean_sem(values: list[float]) -> dict[str, float]:
    """Mean and standard error of the mean (0 for a single value); NaNs ignored."""
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"mean": float("nan"), "sem": float("nan"), "n": 0}
    sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "sem": sem, "n": int(arr.size)}


def synthetic_effect(report: dict[str, Any]) -> dict[str, Any]:
    """Minority recall and AP without and with synthetic images, per model, budget and class
    (the classes that received synthetic images in some run)."""
    runs = report["runs"]
    minority = sorted({c for r in runs for c in r.get("synthetic_per_class", {})})
    out: dict[str, Any] = {"classes": minority, "rows": []}
    for model in dict.fromkeys(r["base_model"] for r in runs):
        for k in sorted({r["labels_per_class"] for r in runs}):
            group = [r for r in runs if r["base_model"] == model and r["labels_per_class"] == k]
            for name in minority:
                row = {"model": model, "labels_per_class": k, "class": name}
                for flag, tag in ((False, "without"), (True, "with")):
                    part = [r for r in group if r["synthetic"] is flag]
                    row[f"recall_{tag}"] = mean_sem([r["per_class"][name]["recall"] for r in part])
                    row[f"ap_{tag}"] = mean_sem([r["per_class"][name]["ap"] for r in part])
                row["synthetic_images"] = mean_sem(
                    [r["synthetic_per_class"].get(name, 0) for r in group if r["synthetic"]]
                )["mean"]
                out["rows"].append(row)
    return out


def synthetic_table(effect: dict[str, Any]) -> str:
    lines = [
        "| model | labels/class | minority class | synthetic added | recall without → with "
        "| AP without → with |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in effect["rows"]:
        recall = f"{row['recall_without']['mean']:.3f} → {row['recall_with']['mean']:.3f}"
        ap = f"{row['ap_without']['mean']:.3f} → {row['ap_with']['mean']:.3f}"
        lines.append(
            f"| `{row['model']}` | {row['labels_per_class']} | {row['class']} "
            f"| {row['synthetic_images']:.0f} | {recall} | {ap} |"
        )
    return "\n".join(lines)


def table(report: dict[str, Any]) -> str:
    lines = [
        "| model | labels/class | accuracy | macro-F1 | mean AP |",
        "| --- | --- | --- | --- | --- |",
    ]
    for model, budgets in report["summary"].items():
        for k, row in sorted(budgets.items(), key=lambda kv: int(kv[0])):
            cells = [
                f"{row[m]['mean']:.3f} ± {row[m]['sem']:.3f}"
                for m in ("accuracy", "macro_f1", "mean_ap")
            ]
            lines.append(f"| `{model}` | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def focus_table(report: dict[str, Any], focus: tuple[str, ...] = FOCUS) -> str:
    """Average precision and recall of the ``focus`` classes (those in the data), mean ± s.e."""
    named = [c for c in focus if c in report["classes"]]
    if not named:
        return ""
    lines = ["| model | labels/class | " + " | ".join(f"{c} AP | {c} recall" for c in named) + " |"]
    lines.append("| --- | --- |" + " --- | --- |" * len(named))
    for model, budgets in report["summary"].items():
        for k, row in sorted(budgets.items(), key=lambda kv: int(kv[0])):
            cells = []
            for c in named:
                for key in ("per_class_ap", "per_class_recall"):
                    cells.append(f"{row[key][c]['mean']:.3f} ± {row[key][c]['sem']:.3f}")
            lines.append(f"| `{model}` | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
