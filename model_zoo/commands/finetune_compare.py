"""``python -m model_zoo finetune-compare``: which backbone needs the fewest labels?

For each backbone of ``--models`` and each budget of ``--labels-per-class`` and each seed,
fine-tune on that many labeled images per class (drawn from the training part of ``--data``),
then test on one fixed, stratified test split. Reports overall accuracy, macro-F1, mean average
precision and per-class recall (accuracy on that class's images) and average precision, as mean
± standard error over the seeds: the paper's Figures 1 and 2 for your own data. Writes a JSON
file (``--json``, rewritten after every run) and a plot (``--plot``).

Every run uses the backend's fine-tuning recipe (:class:`~model_zoo.classifier.training.TrainConfig`:
a linear probe on the frozen pooled features, then the top blocks; a random backbone trains
everything). No validation split is carved out of a few-label budget: every run trains its full
length (no early stopping) and keeps the epoch with the lowest training loss, so the test split
is never used for model selection.

The paper's comparison (Figures 1 and 2) is ``--models
random-efficientnet-lite0,efficientnet-lite0,<your pretrain --from efficientnet-lite0 entry>``:
no pretraining, the generic ImageNet model, and ImageNet + domain pretraining.

``--synthetic DIR`` (a folder from ``generate``) runs every job a second time with synthetic
images mixed into the minority classes of its training subset (``model_zoo.data.synthetic_mix``;
never into the test split) and reports minority recall and AP without and with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from model_zoo.classifier.training import TrainConfig, fine_tune
from model_zoo.commands.finetune_compare_plot import plot
from model_zoo.commands.finetune_compare_report import (
    focus_table,
    mean_sem,
    synthetic_effect,
    synthetic_table,
    table,
)
from model_zoo.data.dataset import DatasetError, load_dataset, open_image
from model_zoo.data.synthetic_mix import (
    SyntheticMix,
    add_mix_arguments,
    plan_mix,
    split_off_synthetic,
)
from model_zoo.registry import default_model_dir

log = logging.getLogger(__name__)


def _ints(text: str, what: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated whole numbers, not {text!r}") from None
    if not values or min(values) < minimum:
        raise ValueError(f"{what} must list whole numbers >= {minimum}, not {text!r}")
    return values


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


def compare(
    data: str | Path,
    models: list[str],
    budgets: list[int],
    seeds: list[int],
    *,
    config: TrainConfig | None = None,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    model_dir: str | Path | None = None,
    device: str = "auto",
    json_path: str | Path | None = None,
    progress: bool = True,
    synthetic: dict[str, Any] | None = None,
    pooling: str = "auto",
    tta: int = 1,
) -> dict[str, Any]:
    """Run the comparison with the fine-tuning recipe ``config`` (default: :class:`TrainConfig`,
    the LP-FT recipe the backend uses); ``synthetic`` = {"folder", "classes", "max_per_class"}
    adds a run with synthetic images for every (model, budget, seed)."""
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    options = RunOptions(model_dir, device, progress, pooling, tta)
    split = _Split.load(data, test_fraction, split_seed)
    report = _new_report(data, split, models, budgets, seeds, config, synthetic)
    report["config"].update(
        test_fraction=test_fraction, split_seed=split_seed, pooling=pooling, tta=tta
    )
    variants = [False, True] if synthetic else [False]
    jobs = [(m, k, s, v) for m in models for k in budgets for s in seeds for v in variants]
    bar = tqdm(jobs, desc="finetune-compare", unit="run", disable=not progress, file=sys.stderr)
    for model, k, seed, with_synthetic in bar:
        bar.set_postfix(model=model, k=k, seed=seed, synthetic=with_synthetic)
        mix_spec = synthetic if with_synthetic else None
        run = _one_run(split, model, k, seed, mix_spec, config, options)
        report["runs"].append(run)
        report["summary"] = summarise(report["runs"], split.classes)
        if json_path:
            _write_json(report, json_path)
    bar.close()
    report["summary"] = summarise(report["runs"], split.classes)
    if synthetic:
        report["synthetic_effect"] = synthetic_effect(report)
    return report


@dataclass
class _Split:
    """The dataset, its fixed stratified test split (images decoded once) and the train pool."""

    dataset: Any
    train_set: Any
    test: list[tuple[Any, int]]
    cache: dict[Path, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, data: str | Path, test_fraction: float, split_seed: int) -> _Split:
        dataset, _ = split_off_synthetic(load_dataset(data))
        train_set, test_set = dataset.split(test_fraction=test_fraction, seed=split_seed)
        split = cls(dataset, train_set, [])
        split.test = [(split.image(s.image_path), split.index[s.label]) for s in test_set]
        return split

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    @property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def targets(self) -> np.ndarray:
        return np.array([y for _, y in self.test])

    def image(self, path: Path):
        if path not in self.cache:
            self.cache[path] = open_image(path)
        return self.cache[path]

    def pool(self, labeled, config: TrainConfig) -> list:
        """The unlabeled pool of a run: the training split's images not picked as labels
        (never the test split), at most ``config.unlabeled_max`` of them (seeded)."""
        picked = {s.image_path for s in labeled}
        paths = [s.image_path for s in self.train_set if s.image_path not in picked]
        keep = np.random.default_rng(config.seed).permutation(len(paths))[: config.unlabeled_max]
        return [self.image(paths[i]) for i in sorted(keep)]


def _new_report(data, split: _Split, models, budgets, seeds, config, synthetic) -> dict[str, Any]:
    """The report's set-up part (the runs are appended as they finish)."""
    return {
        "data": str(Path(data).resolve()),
        "data_name": Path(data).resolve().name,
        "classes": split.classes,
        "train_pool": split.train_set.class_counts(),
        "test_size": len(split.test),
        "skipped_files": split.dataset.skipped,
        "config": {
            "models": models,
            "labels_per_class": budgets,
            "seeds": seeds,
            "train": {k: v for k, v in asdict(config).items() if k != "progress"},
            "synthetic": synthetic,
        },
        "runs": [],
    }


@dataclass(frozen=True)
class RunOptions:
    """How every run loads its model and scores it (not part of the training recipe)."""

    model_dir: str | Path | None = None
    device: str = "auto"
    progress: bool = True
    pooling: str = "auto"  # a new head's pooling (model_zoo.classifier.pooling)
    tta: int = 1  # test-time views (1: none; 2: + horizontal flip; 3: + vertical flip)


def _one_run(split: _Split, model, k, seed, synthetic, config, options: RunOptions):
    """Fine-tune ``model`` on ``k`` labels per class (seed ``seed``), score it on the test split."""
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.tta import predict_proba_tta

    subset = split.train_set.subset_per_class(k, seed=seed)
    mix = _mix(synthetic, subset.class_counts()) if synthetic else SyntheticMix()
    index = split.index
    train = [(split.image(s.image_path), index[s.label]) for s in subset]
    train += [(split.image(path), index[label]) for path, label in mix.images]
    # no validation split: every run trains its full length and keeps the last epoch
    longest = config.epochs + config.min_steps  # no run has more epochs than this
    run_config = replace(config, seed=seed, patience=longest + 1, progress=options.progress)
    use_pool = config.adabn or config.self_training
    unlabeled = split.pool(subset, run_config) if use_pool else []
    classifier = load_classifier(
        model,
        split.classes,
        model_dir=options.model_dir,
        device=options.device,
        seed=seed,
        pooling=options.pooling,
    )
    started = time.perf_counter()
    result = fine_tune(classifier, train, (), run_config, unlabeled=unlabeled)
    test_images = [im for im, _ in split.test]
    probs = predict_proba_tta(classifier, test_images, views=options.tta, batch_size=64)
    metrics = score(probs, split.targets, split.classes)
    return {
        "model": f"{model} + synthetic" if synthetic else model,
        "base_model": model,
        "synthetic": bool(synthetic),
        **mix.summary(),
        "version": classifier.version,
        "labels_per_class": k,
        "seed": seed,
        "train_size": len(train),
        "epochs": len(result.history),
        "seconds": round(time.perf_counter() - started, 2),
        "unlabeled_pool": result.metrics.get("unlabeled_pool", 0),
        "adabn_images": result.metrics.get("adabn_images", 0),
        "self_training": result.metrics.get("self_training", {}),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "mean_ap": metrics["mean_ap"],
        "per_class": metrics["per_class"],
    }


def _mix(synthetic: dict[str, Any], counts: dict[str, int]) -> SyntheticMix:
    return plan_mix(
        synthetic["folder"], counts, synthetic.get("classes", ()), synthetic.get("max_per_class")
    )


def _write_json(report: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (images/<class>/*.png)")
    parser.add_argument("--models", required=True, help="comma-separated zoo names/directories")
    parser.add_argument("--labels-per-class", default="5,20,100", help="budgets, e.g. 5,20,100")
    parser.add_argument("--seeds", default="3", help="number of seeds (N) or a list (0,1,2)")
    defaults = TrainConfig()
    parser.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="fine-tuning epochs after the probe"
    )
    parser.add_argument(
        "--min-steps",
        type=int,
        default=defaults.min_steps,
        help="small budgets train for more epochs, so that every run takes at least this many "
        f"optimiser steps (default {defaults.min_steps})",
    )
    parser.add_argument("--batch", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--lr", type=float, default=defaults.lr, help="the probe's head, and random backbones"
    )
    parser.add_argument(
        "--backbone-lr",
        type=float,
        default=defaults.backbone_lr,
        help=f"pretrained backbones after the probe (default {defaults.backbone_lr})",
    )
    parser.add_argument(
        "--train-blocks",
        default=defaults.train_blocks,
        help=f"{defaults.train_blocks} (default), all, head or N top blocks",
    )
    parser.add_argument(
        "--input-size", type=int, default=None, help="image side (default: the model's own)"
    )
    parser.add_argument("--no-probe", action="store_true", help="skip the linear probe")
    _add_unlabeled_arguments(parser)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the fixed test split")
    parser.add_argument("--model-dir", default=None, help="default: $MODEL_DIR or ./data/models")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", required=True, help="where to write the results (JSON)")
    parser.add_argument("--plot", default=None, help="where to write the plot (PNG)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_mix_arguments(parser)


def _add_unlabeled_arguments(parser: argparse.ArgumentParser) -> None:
    """Pooling, the unlabeled pool (AdaBN, self-training) and test-time flips."""
    defaults = TrainConfig()
    parser.add_argument(
        "--pooling",
        default="auto",
        choices=["auto", "avg", "max", "avgmax"],
        help="how a new head on a CNN pools its features (auto: the zoo default, max)",
    )
    parser.add_argument(
        "--adabn",
        action="store_true",
        help="re-estimate the BatchNorm statistics on the unlabeled pool (AdaBN; default off: "
        "it lost accuracy on real wall tiles)",
    )
    parser.add_argument(
        "--self-training",
        action=argparse.BooleanOptionalAction,
        default=defaults.self_training,
        help="the probe also learns the unlabeled pool's confident pseudo-labels (default off, "
        "as in the backend's TRAIN_SELF_TRAINING: it did not pay on real wall tiles)",
    )
    parser.add_argument(
        "--unlabeled-max",
        type=int,
        default=defaults.unlabeled_max,
        help="unlabeled pool per run: at most this many of the training split's images not "
        f"picked as labels (never the test split; default {defaults.unlabeled_max})",
    )
    parser.add_argument(
        "--tta",
        type=int,
        default=1,
        choices=[1, 2, 3],
        help="test-time views averaged: 1 none (default), 2 + horizontal flip, 3 + vertical",
    )


def run(args: argparse.Namespace) -> int:
    try:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            raise ValueError("--models needs at least one model name")
        budgets = _ints(args.labels_per_class, "--labels-per-class")
        seeds = _seeds(args.seeds)
        if not seeds:
            raise ValueError("--seeds must be at least 1")
        report = compare(
            args.data,
            models,
            budgets,
            seeds,
            config=_train_config(args),
            test_fraction=args.test_fraction,
            split_seed=args.split_seed,
            model_dir=args.model_dir or default_model_dir(),
            device=args.device,
            json_path=args.json,
            progress=not args.quiet,
            synthetic=_synthetic_option(args),
            pooling=args.pooling,
            tta=args.tta,
        )
    except (DatasetError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"finetune-compare: error: {message}", file=sys.stderr)
        return 2
    _write_json(report, args.json)
    print(table(report))
    if focus_table(report):
        print(focus_table(report))
    if "synthetic_effect" in report:
        print(synthetic_table(report["synthetic_effect"]))
    print(f"results: {args.json}")
    if args.plot:
        print(f"plot:    {plot(report, args.plot)}")
    return 0


def _seeds(text: str) -> list[int]:
    """``--seeds N`` (seeds 0..N-1) or a list ``0,1,2`` (seed 0 allowed)."""
    if "," in text:
        return _ints(text, "--seeds", minimum=0)
    return list(range(_ints(text, "--seeds")[0]))


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        min_steps=max(0, args.min_steps),
        batch_size=args.batch,
        lr=args.lr,
        backbone_lr=args.backbone_lr,
        train_blocks=args.train_blocks,
        input_size=args.input_size,
        probe=not args.no_probe,
        progress=not args.quiet,
        adabn=args.adabn,
        self_training=args.self_training,
        unlabeled_max=max(0, args.unlabeled_max),
    )


def _synthetic_option(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.synthetic:
        return None
    named = [c.strip() for c in str(args.synthetic_classes or "").split(",") if c.strip()]
    return {"folder": args.synthetic, "classes": named, "max_per_class": args.synthetic_max}
