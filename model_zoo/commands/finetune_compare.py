"""``python -m model_zoo finetune-compare``: which backbone needs the fewest labels?

For each backbone of ``--models`` and each budget of ``--labels-per-class`` and each seed,
fine-tune on that many labeled images per class (drawn from the training part of ``--data``),
then test on one fixed, stratified test split. Reports overall accuracy, macro-F1, mean average
precision and per-class recall (accuracy on that class's images) and average precision, as mean
± standard error over the seeds: the paper's Figures 1 and 2 for your own data. Writes a JSON
file (``--json``, rewritten after every run) and a plot (``--plot``).

No validation split is carved out of a few-label budget: every run trains for ``--epochs`` and
keeps the last epoch, so the test split is never used for model selection.

``--synthetic DIR`` (a folder from ``generate``) runs every job a second time with synthetic
images mixed into the minority classes of its training subset (``model_zoo.data.synthetic_mix``;
never into the test split) and reports minority recall and AP without and with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from model_zoo.data.dataset import DatasetError, load_dataset, open_image
from model_zoo.data.synthetic_mix import (
    SyntheticMix,
    add_mix_arguments,
    plan_mix,
    split_off_synthetic,
)
from model_zoo.registry import default_model_dir

log = logging.getLogger(__name__)


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated whole numbers, not {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} must list whole numbers >= 1, not {text!r}")
    return values


def mean_sem(values: list[float]) -> dict[str, float]:
    """Mean and standard error of the mean (0 for a single value); NaNs ignored."""
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"mean": float("nan"), "sem": float("nan"), "n": 0}
    sem = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "sem": sem, "n": int(arr.size)}


def score(probs: np.ndarray, targets: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class recall/precision (training.evaluate) plus average
    precision per class (one-vs-rest on the probabilities) and their mean."""
    from sklearn.metrics import average_precision_score

    from model_zoo.classifier.training import evaluate

    metrics = evaluate(probs, targets, classes)
    aps = []
    for i, name in enumerate(classes):
        positives = targets == i
        ap = float(average_precision_score(positives, probs[:, i])) if positives.any() else None
        metrics["per_class"][name]["ap"] = ap
        if ap is not None:
            aps.append(ap)
    metrics["mean_ap"] = float(np.mean(aps)) if aps else float("nan")
    return metrics


def summarise(runs: list[dict[str, Any]], classes: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for run in runs:
        summary.setdefault(run["model"], {}).setdefault(str(run["labels_per_class"]), []).append(
            run
        )
    out: dict[str, Any] = {}
    for model, budgets in summary.items():
        out[model] = {}
        for k, group in budgets.items():
            out[model][k] = {
                "accuracy": mean_sem([r["accuracy"] for r in group]),
                "macro_f1": mean_sem([r["macro_f1"] for r in group]),
                "mean_ap": mean_sem([r["mean_ap"] for r in group]),
                "per_class_recall": {
                    c: mean_sem([r["per_class"][c]["recall"] for r in group]) for c in classes
                },
                "per_class_ap": {
                    c: mean_sem([r["per_class"][c]["ap"] for r in group]) for c in classes
                },
            }
    return out


def plot(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy and mean AP vs labels per class (error bars: standard error over seeds), and
    per-class AP at the smallest and largest budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, classes = report["summary"], report["classes"]
    models = list(summary)
    budgets = sorted({int(k) for m in models for k in summary[m]})
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, metric, title in [
        (axes[0, 0], "accuracy", "overall accuracy"),
        (axes[0, 1], "mean_ap", "mean average precision"),
    ]:
        for model in models:
            ks = [k for k in budgets if str(k) in summary[model]]
            ys = [summary[model][str(k)][metric]["mean"] for k in ks]
            es = [summary[model][str(k)][metric]["sem"] for k in ks]
            ax.errorbar(ks, ys, yerr=es, marker="o", capsize=3, label=model)
        if metric == "accuracy":
            ax.axhline(1 / len(classes), color="grey", lw=1, ls=":", label="chance")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(budgets, [str(k) for k in budgets])
        ax.set_xlabel("labeled images per class")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(models))
    for ax, k in [(axes[1, 0], budgets[0]), (axes[1, 1], budgets[-1])]:
        for j, model in enumerate(models):
            row = summary[model].get(str(k))
            if row is None:
                continue
            ys = [row["per_class_ap"][c]["mean"] for c in classes]
            es = [row["per_class_ap"][c]["sem"] for c in classes]
            ax.bar(
                x + (j - (len(models) - 1) / 2) * width, ys, width, yerr=es, capsize=2, label=model
            )
        ax.set_xticks(x, classes, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"average precision per class, {k} labels per class")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
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


def compare(
    data: str | Path,
    models: list[str],
    budgets: list[int],
    seeds: list[int],
    *,
    epochs: int = 15,
    min_steps: int = 0,
    batch_size: int = 32,
    lr: float = 1e-3,
    backbone_lr: float = 2e-4,
    train_blocks: str = "all",
    test_fraction: float = 0.3,
    split_seed: int = 0,
    model_dir: str | Path | None = None,
    device: str = "auto",
    json_path: str | Path | None = None,
    progress: bool = True,
    synthetic: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the comparison; ``synthetic`` = {"folder", "classes", "max_per_class"} adds a run
    with synthetic images for every (model, budget, seed)."""
    from tqdm.auto import tqdm

    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, fine_tune

    dataset, _ = split_off_synthetic(load_dataset(data))
    classes = dataset.classes
    index = {c: i for i, c in enumerate(classes)}
    train_set, test_set = dataset.split(test_fraction=test_fraction, seed=split_seed)
    cache: dict[Path, Any] = {}

    def image(path: Path):
        if path not in cache:
            cache[path] = open_image(path)
        return cache[path]

    test = [(image(s.image_path), index[s.label]) for s in test_set]
    targets = np.array([y for _, y in test])
    report: dict[str, Any] = {
        "data": str(Path(data).resolve()),
        "data_name": Path(data).resolve().name,
        "classes": classes,
        "train_pool": train_set.class_counts(),
        "test_size": len(test),
        "skipped_files": dataset.skipped,
        "config": {
            "models": models,
            "labels_per_class": budgets,
            "seeds": seeds,
            "epochs": epochs,
            "min_steps": min_steps,
            "batch_size": batch_size,
            "lr": lr,
            "backbone_lr": backbone_lr,
            "train_blocks": train_blocks,
            "test_fraction": test_fraction,
            "split_seed": split_seed,
            "synthetic": synthetic,
        },
        "runs": [],
    }
    variants = [False, True] if synthetic else [False]
    jobs = [(m, k, s, v) for m in models for k in budgets for s in seeds for v in variants]
    bar = tqdm(jobs, desc="finetune-compare", unit="run", disable=not progress, file=sys.stderr)
    for model, k, seed, with_synthetic in bar:
        bar.set_postfix(model=model, k=k, seed=seed, synthetic=with_synthetic)
        subset = train_set.subset_per_class(k, seed=seed)
        mix = _mix(synthetic, subset.class_counts()) if with_synthetic else SyntheticMix()
        train = [(image(s.image_path), index[s.label]) for s in subset]
        train += [(image(path), index[label]) for path, label in mix.images]
        classifier = load_classifier(model, classes, model_dir=model_dir, device=device, seed=seed)
        started = time.perf_counter()
        run_epochs = max(epochs, math.ceil(min_steps / math.ceil(len(train) / batch_size)))
        fine_tune(
            classifier,
            train,
            (),
            TrainConfig(
                epochs=run_epochs,
                batch_size=batch_size,
                lr=lr,
                backbone_lr=backbone_lr,
                train_blocks=train_blocks,
                seed=seed,
                patience=run_epochs,
                progress=progress,
            ),
        )
        probs = classifier.predict_proba([im for im, _ in test], batch_size=64)
        metrics = score(probs, targets, classes)
        report["runs"].append(
            {
                "model": f"{model} + synthetic" if with_synthetic else model,
                "base_model": model,
                "synthetic": with_synthetic,
                **mix.summary(),
                "version": classifier.version,
                "labels_per_class": k,
                "seed": seed,
                "train_size": len(train),
                "epochs": run_epochs,
                "seconds": round(time.perf_counter() - started, 2),
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "mean_ap": metrics["mean_ap"],
                "per_class": metrics["per_class"],
            }
        )
        report["summary"] = summarise(report["runs"], classes)
        if json_path:
            _write_json(report, json_path)
    bar.close()
    report["summary"] = summarise(report["runs"], classes)
    if synthetic:
        report["synthetic_effect"] = synthetic_effect(report)
    return report


def _mix(synthetic: dict[str, Any], counts: dict[str, int]) -> SyntheticMix:
    return plan_mix(
        synthetic["folder"], counts, synthetic.get("classes", ()), synthetic.get("max_per_class")
    )


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


def _write_json(report: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (images/<class>/*.png)")
    parser.add_argument("--models", required=True, help="comma-separated zoo names/directories")
    parser.add_argument("--labels-per-class", default="5,20,100", help="budgets, e.g. 5,20,100")
    parser.add_argument("--seeds", default="3", help="number of seeds (N) or a list (0,1,2)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--min-steps",
        type=int,
        default=60,
        help="small budgets train for more epochs, so that every run takes at least this many "
        "optimiser steps (default 60)",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="head (and random backbones)")
    parser.add_argument(
        "--backbone-lr", type=float, default=2e-4, help="pretrained backbones (default 2e-4)"
    )
    parser.add_argument(
        "--train-blocks", default="all", help="all (default), head, auto or N top blocks"
    )
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the fixed test split")
    parser.add_argument("--model-dir", default=None, help="default: $MODEL_DIR or ./data/models")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", required=True, help="where to write the results (JSON)")
    parser.add_argument("--plot", default=None, help="where to write the plot (PNG)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_mix_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            raise ValueError("--models needs at least one model name")
        budgets = _ints(args.labels_per_class, "--labels-per-class")
        seeds = _ints(args.seeds, "--seeds") if "," in args.seeds else list(range(int(args.seeds)))
        if not seeds:
            raise ValueError("--seeds must be at least 1")
        report = compare(
            args.data,
            models,
            budgets,
            seeds,
            epochs=args.epochs,
            min_steps=max(0, args.min_steps),
            batch_size=args.batch,
            lr=args.lr,
            backbone_lr=args.backbone_lr,
            train_blocks=args.train_blocks,
            test_fraction=args.test_fraction,
            split_seed=args.split_seed,
            model_dir=args.model_dir or default_model_dir(),
            device=args.device,
            json_path=args.json,
            progress=not args.quiet,
            synthetic=_synthetic_option(args),
        )
    except (DatasetError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"finetune-compare: error: {message}", file=sys.stderr)
        return 2
    _write_json(report, args.json)
    print(table(report))
    if "synthetic_effect" in report:
        print(synthetic_table(report["synthetic_effect"]))
    print(f"results: {args.json}")
    if args.plot:
        print(f"plot:    {plot(report, args.plot)}")
    return 0


def _synthetic_option(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.synthetic:
        return None
    named = [c.strip() for c in str(args.synthetic_classes or "").split(",") if c.strip()]
    return {"folder": args.synthetic, "classes": named, "max_per_class": args.synthetic_max}
