"""The ``finetune-compare`` figure: accuracy and mean AP against the label budget (error bars:
standard error over seeds), and average precision per class at the smallest and the largest
budget, with the thin-defect classes (:data:`FOCUS`) in bold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FOCUS = ("crack", "net_crack")  # the paper's hard, thin classes: called out in the output


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Write the figure of a ``finetune-compare`` report to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["summary"]
    budgets = sorted({int(k) for m in summary for k in summary[m]})
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, metric in [(axes[0, 0], "accuracy"), (axes[0, 1], "mean_ap")]:
        _curves(ax, summary, budgets, metric, len(report["classes"]))
    _per_class(axes[1, 0], summary, report["classes"], budgets[0])
    if len(budgets) > 1:
        _per_class(axes[1, 1], summary, report["classes"], budgets[-1])
    else:
        axes[1, 1].axis("off")  # one budget: one per-class panel
    n_seeds = len(report["config"]["seeds"])
    fig.suptitle(
        f"fine-tuning on {report['data_name']}: test n={report['test_size']}, "
        f"mean ± s.e. over {n_seeds} seed(s)",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _curves(ax, summary: dict[str, Any], budgets: list[int], metric: str, n_classes: int) -> None:
    """One metric against labels per class, one line per model."""
    for model, rows in summary.items():
        ks = [k for k in budgets if str(k) in rows]
        ys = [rows[str(k)][metric]["mean"] for k in ks]
        es = [rows[str(k)][metric]["sem"] for k in ks]
        ax.errorbar(ks, ys, yerr=es, marker="o", capsize=3, label=model)
    if metric == "accuracy":
        ax.axhline(1 / n_classes, color="grey", lw=1, ls=":", label="chance")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(budgets, [str(k) for k in budgets])
    ax.set_xlabel("labeled images per class")
    ax.set_title({"accuracy": "overall accuracy", "mean_ap": "mean average precision"}[metric])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _per_class(ax, summary: dict[str, Any], classes: list[str], k: int) -> None:
    """Average precision per class at budget ``k``, one bar per model."""
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(summary))
    for j, (model, rows) in enumerate(summary.items()):
        row = rows.get(str(k))
        if row is None:
            continue
        ys = [row["per_class_ap"][c]["mean"] for c in classes]
        es = [row["per_class_ap"][c]["sem"] for c in classes]
        offset = (j - (len(summary) - 1) / 2) * width
        ax.bar(x + offset, ys, width, yerr=es, capsize=2, label=model)
    ax.set_xticks(x, classes, rotation=35, ha="right", fontsize=8)
    for tick, name in zip(ax.get_xticklabels(), classes, strict=True):
        if name in FOCUS:
            tick.set_fontweight("bold")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"AP per class, {k} labels per class (bold: thin defects)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
