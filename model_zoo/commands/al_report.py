"""What ``simulate-al`` reports: the paper's panels per cycle, mean and standard error over
repeats (a summary, a figure with SE bands, a printed table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_zoo.commands.al_loop import METRICS, SERIES

TITLES = {
    "minority_precision": "minority precision",
    "minority_recall": "minority recall",
    "majority_precision": "majority macro precision",
    "majority_recall": "majority macro recall",
    "accuracy": "accuracy",
    "minority_labeled": "minority samples labeled",
}
SHORT = {
    "minority_precision": "min P",
    "minority_recall": "min R",
    "majority_precision": "maj P",
    "majority_recall": "maj R",
    "accuracy": "acc",
    "minority_labeled": "min lab",
}


def summarise(per_repeat: dict, init: int, budget: int) -> dict:
    """Mean and standard error over repeats, per cycle."""
    out = {}
    for name, series in per_repeat.items():
        rows = []
        first = next(iter(series.values()))
        for cycle in range(len(first)):
            row = {"cycle": cycle, "labeled": init + cycle * budget}
            for key, values in series.items():
                v = np.asarray(values[cycle], dtype=float)
                se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
                row[key] = {"mean": round(float(v.mean()), 4), "se": round(se, 4)}
            rows.append(row)
        out[name] = rows
    return out


def plot(summary: dict, path: Path, title: str) -> None:
    """The six panels (five metrics and minority labeled) with SE bands, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, key in zip(axes.ravel(), SERIES, strict=True):
        for name, rows in summary.items():
            x = [r["labeled"] for r in rows]
            m = np.array([r[key]["mean"] for r in rows])
            s = np.array([r[key]["se"] for r in rows])
            ax.plot(x, m, marker="o", ms=3, label=name)
            ax.fill_between(x, m - s, m + s, alpha=0.2)
        ax.set_title(TITLES[key], fontsize=10)
        ax.set_xlabel("labeled samples", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def cycle_table(summary: dict) -> str:
    """Every cycle of every strategy: mean ± SE of each panel."""
    lines = []
    header = f"  {'strategy':<18}{'labeled':>8}  " + "  ".join(f"{SHORT[k]:>13}" for k in SERIES)
    lines.append(header)
    for name, rows in summary.items():
        for row in rows:
            cells = []
            for key in SERIES:
                m, se = row[key]["mean"], row[key]["se"]
                cells.append(
                    f"{m:>6.1f} ±{se:<5.1f}" if key == "minority_labeled" else f"{m:.3f} ±{se:.3f}"
                )
            lines.append(
                f"  {name:<18}{row['labeled']:>8}  " + "  ".join(f"{c:>13}" for c in cells)
            )
    return "\n".join(lines)


def print_last(summary: dict, init: int, budget: int, cycles: int) -> None:
    print(f"after {cycles} cycles ({init + cycles * budget} labels):")
    for name, rows in summary.items():
        row = rows[-1]
        print(
            f"  {name:<16} minority P {row['minority_precision']['mean']:.3f} "
            f"R {row['minority_recall']['mean']:.3f} (±{row['minority_recall']['se']:.3f})  "
            f"majority P {row['majority_precision']['mean']:.3f} R {row['majority_recall']['mean']:.3f}  "
            f"acc {row['accuracy']['mean']:.3f} (±{row['accuracy']['se']:.3f})  "
            f"minority labeled {row['minority_labeled']['mean']:.0f}"
        )


def versus(per_repeat: dict, baseline: str) -> dict:
    """Each strategy against ``baseline`` at the last cycle, repeat by repeat (the same start
    labels and subsample): minority recall as a ratio of means, accuracy as a difference with
    its paired standard error."""
    out = {}
    base = per_repeat[baseline]
    b_recall = np.asarray(base["minority_recall"][-1], dtype=float)
    b_acc = np.asarray(base["accuracy"][-1], dtype=float)
    for name, series in per_repeat.items():
        recall = np.asarray(series["minority_recall"][-1], dtype=float)
        diff = np.asarray(series["accuracy"][-1], dtype=float) - b_acc
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        out[name] = {
            "recall_ratio": round(float(recall.mean() / max(b_recall.mean(), 1e-9)), 3),
            "accuracy_diff": round(float(diff.mean()), 4),
            "accuracy_diff_se": round(se, 4),
        }
    return out


def print_versus(table: dict, baseline: str) -> None:
    print(f"against {baseline} at the last cycle (paired over repeats):")
    for name, row in table.items():
        if name != baseline:
            print(
                f"  {name:<16} minority recall x{row['recall_ratio']:.2f}  accuracy "
                f"{row['accuracy_diff']:+.3f} (±{row['accuracy_diff_se']:.3f})"
            )


__all__ = [
    "METRICS",
    "TITLES",
    "cycle_table",
    "plot",
    "print_last",
    "print_versus",
    "summarise",
    "versus",
]
