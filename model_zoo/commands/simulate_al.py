"""Simulate active learning on a labeled dataset: what does each acquisition strategy buy?

``python -m model_zoo simulate-al --data DIR --strategies discriminator,bald,entropy,random
--minority exposed_rebar --init 100 --budget 200 --cycles 5 --repeats 3 --json out.json
--plot out.png``

The dataset (``model_zoo.data.dataset`` layout, e.g. from ``python -m model_zoo synth``) is split into
a test set (``--test-fraction``, stratified) and a pool whose labels are hidden. Each repeat draws
``--init`` random pool samples as the first labeled set; then for every cycle the task model is
trained on the labeled set, evaluated on the test set, and the strategy picks ``--budget`` more
pool samples to "label". Reported per cycle (mean and standard error over repeats), as in the
paper's Figure 4: minority precision and recall (macro over the minority classes), majority
macro precision and recall, overall accuracy, plus how many minority samples were labeled.

The production path, with the backbone frozen to keep a run within minutes on a CPU: the pooled
features (``ImageClassifier.embed``) are computed once (cached under ``--cache``); each cycle
trains the classifier's own head on them (:mod:`model_zoo.classifier.head`, what
``TRAIN_BLOCKS=head`` trains); strategies come from the registry (``get_strategy``) and BALD
reads the same MC dropout (:func:`model_zoo.acquisition.bald.mc_dropout_probabilities`) as the
backend's queue round.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_zoo.acquisition import AcquisitionContext, acquisition_order, get_strategy
from model_zoo.acquisition.base import AcquisitionError
from model_zoo.classifier.head import FeatureHead, classifier_head, fit_head, linear_head

log = logging.getLogger(__name__)
METRICS = (
    "minority_precision",
    "minority_recall",
    "majority_precision",
    "majority_recall",
    "accuracy",
)
TITLES = {
    "minority_precision": "minority precision",
    "minority_recall": "minority recall",
    "majority_precision": "majority macro precision",
    "majority_recall": "majority macro recall",
    "accuracy": "accuracy",
    "minority_labeled": "minority samples labeled",
}


# ------------------------------------------------------------------------------- metrics
def metrics(
    y_true: np.ndarray, y_pred: np.ndarray, minority: list[int], majority: list[int]
) -> dict:
    def pr(c: int) -> tuple[float, float]:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = float(np.sum(y_pred == c)), float(np.sum(y_true == c))
        return (tp / predicted if predicted else 0.0), (tp / actual if actual else 0.0)

    mins = [pr(c) for c in minority]
    majs = [pr(c) for c in majority]
    return {
        "minority_precision": float(np.mean([p for p, _ in mins])),
        "minority_recall": float(np.mean([r for _, r in mins])),
        "majority_precision": float(np.mean([p for p, _ in majs])) if majs else 0.0,
        "majority_recall": float(np.mean([r for _, r in majs])) if majs else 0.0,
        "accuracy": float(np.mean(y_true == y_pred)),
    }


# ------------------------------------------------------------------------------- simulation
@dataclass
class _Data:
    features: np.ndarray
    labels: np.ndarray  # class indices
    classes: list[str]
    minority: list[str]

    @property
    def minority_idx(self) -> list[int]:
        return [self.classes.index(c) for c in self.minority]

    @property
    def majority_idx(self) -> list[int]:
        return [i for i in range(len(self.classes)) if i not in self.minority_idx]


@dataclass(frozen=True)
class _Loop:
    init: int
    budget: int
    cycles: int
    diversity: int
    mc_samples: int
    seed: int


def simulate(
    features: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    strategies: list[str],
    minority: list[str],
    *,
    init: int,
    budget: int,
    cycles: int,
    repeats: int,
    test_fraction: float = 0.3,
    diversity: int = 0,
    mc_samples: int = 20,
    seed: int = 0,
    progress: bool = True,
    head: FeatureHead | None = None,
) -> dict:
    """Run the loop; returns ``{strategy: {metric: (cycles+1, repeats) list}}`` and the set-up.

    ``head``: the classifier head trained each cycle (default: the zoo ViTs' linear head).
    """
    from tqdm import tqdm

    head = head or linear_head(features.shape[1], len(classes))
    data = _Data(features, labels, classes, minority)
    loop = _Loop(init, budget, cycles, diversity, mc_samples, seed)
    test = _test_split(labels, len(classes), test_fraction, seed)
    pool_all = np.flatnonzero(~test)
    needed = init + cycles * budget
    if needed > len(pool_all):
        raise ValueError(
            f"--init {init} + --cycles {cycles} x --budget {budget} = {needed} labels, but the pool "
            f"has only {len(pool_all)} samples; lower them or use more data"
        )
    out = {name: {m: [] for m in (*METRICS, "minority_labeled")} for name in strategies}
    notes: dict[str, list[str]] = {name: [] for name in strategies}
    total = len(strategies) * repeats * (cycles + 1)
    bar = tqdm(total=total, desc="simulate-al", unit="cycle", disable=not progress, file=sys.stderr)
    for name in strategies:
        strategy = get_strategy(name)
        for r in range(repeats):
            curves = _repeat(data, loop, strategy, head, test, pool_all, r, bar, notes[name])
            for key, values in curves.items():
                out[name][key].append(values)
    bar.close()
    minority_idx = data.minority_idx
    return {
        "per_repeat": {
            name: {k: np.asarray(v).T.tolist() for k, v in d.items()} for name, d in out.items()
        },
        "notes": notes,
        "pool_size": int(len(pool_all)),
        "test_size": int(test.sum()),
        "pool_minority": int(np.isin(labels[pool_all], minority_idx).sum()),
        "test_minority": int(np.isin(labels[test], minority_idx).sum()),
    }


def _test_split(labels: np.ndarray, n_classes: int, test_fraction: float, seed: int) -> np.ndarray:
    """The test set (a mask), stratified: ``test_fraction`` of every class."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        test[members[: int(round(len(members) * test_fraction))]] = True
    return test


def _repeat(data: _Data, loop: _Loop, strategy, head, test, pool_all, r, bar, notes) -> dict:
    """One repeat of one strategy: ``init`` random labels (the same start for every
    strategy), then ``cycles`` rounds of train, evaluate, acquire ``budget``."""
    rep_rng = np.random.default_rng([loop.seed, r])
    labeled = list(rep_rng.choice(pool_all, loop.init, replace=False))
    curves: dict[str, list] = {m: [] for m in (*METRICS, "minority_labeled")}
    x_test, y_test = data.features[test], data.labels[test]
    minority_idx, majority_idx = data.minority_idx, data.majority_idx
    for cycle in range(loop.cycles + 1):
        lab = np.asarray(labeled)
        model = fit_head(head, data.features[lab], data.labels[lab], seed=r * 1000 + cycle)
        predicted = model.probabilities(x_test).argmax(1)
        for key, value in metrics(y_test, predicted, minority_idx, majority_idx).items():
            curves[key].append(value)
        curves["minority_labeled"].append(int(np.isin(data.labels[lab], minority_idx).sum()))
        bar.update(1)
        if cycle == loop.cycles:
            break
        labeled.extend(_acquire(data, loop, strategy, model, pool_all, lab, r, cycle, notes))
    return curves


def _acquire(data: _Data, loop: _Loop, strategy, model, pool_all, lab, r, cycle, notes) -> list:
    """The ``budget`` pool samples the strategy picks next (its notes added to ``notes``)."""
    taken = np.zeros(len(data.labels), dtype=bool)
    taken[lab] = True
    pool = pool_all[~taken[pool_all]]
    pool_features = data.features[pool]
    ctx = AcquisitionContext(
        pool_features=pool_features,
        labeled_features=data.features[lab],
        labeled_labels=[data.classes[i] for i in data.labels[lab]],
        probabilities=model.probabilities(pool_features),
        mc_probabilities=model.mc_probabilities(pool_features, loop.mc_samples, seed=r)
        if "bald" in strategy.name
        else None,
        classes=data.classes,
        minority=data.minority,
        seed=loop.seed * 7919 + r * 31 + cycle,
    )
    scores = strategy.score(ctx)
    notes.extend(n for n in ctx.notes if n not in notes)
    batch = loop.diversity and loop.budget
    order = acquisition_order(scores, pool_features, batch=batch, seed=r)
    return [int(i) for i in pool[order[: loop.budget]]]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [*METRICS, "minority_labeled"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, key in zip(axes.ravel(), keys, strict=True):
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


# ------------------------------------------------------------------------------- command line
def dataset_features(data: Path, model: str, cache_dir: Path | None, batch_size: int = 64):
    """(features, labels as indices, classes, model version, the classifier's untrained head)
    of a dataset; embeddings cached per model version."""
    from model_zoo.classifier.model import load_classifier
    from model_zoo.data.dataset import load_dataset, open_image
    from model_zoo.storage.feature_cache import FeatureCache, cached_embeddings

    dataset = load_dataset(data, verify=False)
    classifier = load_classifier(model, dataset.classes, device="cpu")
    keys = [
        str(s.image_path.resolve().relative_to(dataset.root.resolve())) for s in dataset.samples
    ]

    def compute(positions: list[int]) -> np.ndarray:
        from tqdm import tqdm

        chunks = []
        for start in tqdm(range(0, len(positions), batch_size), desc="embedding", file=sys.stderr):
            part = positions[start : start + batch_size]
            images = [open_image(dataset.samples[i].image_path) for i in part]
            chunks.append(classifier.embed(images, batch_size=batch_size))
        return np.concatenate(chunks)

    cache = FeatureCache(cache_dir) if cache_dir else None
    features, computed = cached_embeddings(cache, classifier.version, keys, compute)
    log.info("features %s: %d computed, %d cached", features.shape, computed, len(keys) - computed)
    labels = np.array([dataset.classes.index(s.label) for s in dataset.samples])
    head = classifier_head(classifier)
    return features, labels, list(dataset.classes), classifier.version, head


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (images/<class>/...)")
    parser.add_argument(
        "--strategies", default="discriminator,bald,entropy,random", help="comma-separated"
    )
    parser.add_argument("--minority", required=True, help="minority class(es): CLASS[,CLASS]")
    parser.add_argument("--init", type=int, default=100, help="initial random labels")
    parser.add_argument("--budget", type=int, default=200, help="labels per cycle")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--diversity", action="store_true", help="cluster-based diverse batches")
    parser.add_argument(
        "--model",
        default="efficientnet-lite0",
        help="backbone for the features (default efficientnet-lite0, the CLASSIFIER_MODEL default)",
    )
    parser.add_argument("--cache", default=None, help="feature cache dir (default DATA/.features)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--plot", default=None, help="write the figure here (.png)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1; 0 = default)")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)  # tiny heads: extra threads only contend
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    try:
        for name in strategies:
            get_strategy(name)
    except AcquisitionError as exc:
        print(f"simulate-al: error: {exc}", file=sys.stderr)
        return 2
    from model_zoo.data.dataset import DatasetError

    data = Path(args.data)
    try:
        features, labels, classes, version, head = dataset_features(
            data, args.model, Path(args.cache) if args.cache else data / ".features"
        )
    except DatasetError as exc:
        print(f"simulate-al: error: {exc}", file=sys.stderr)
        return 2
    minority = _minority(args.minority, classes, labels)
    if len(minority) == len(classes):
        print("simulate-al: error: every class is minority; leave some majority", file=sys.stderr)
        return 2
    try:
        raw = simulate(
            features,
            labels,
            classes,
            strategies,
            minority,
            init=args.init,
            budget=args.budget,
            cycles=args.cycles,
            repeats=args.repeats,
            test_fraction=args.test_fraction,
            diversity=int(bool(args.diversity)),
            seed=args.seed,
            head=head,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"simulate-al: error: {exc}", file=sys.stderr)
        return 2
    summary = summarise(raw["per_repeat"], args.init, args.budget)
    if args.json:
        result = _result(args, version, strategies, minority, labels, classes, raw, summary)
        result["seconds"] = round(time.perf_counter() - started, 1)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(
            summary,
            Path(args.plot),
            f"AL on {data.name}: minority {', '.join(minority)}, "
            f"{args.budget} labels/cycle, mean ± SE over {args.repeats} repeats",
        )
    _print_last(summary, args.init, args.budget, args.cycles)
    return 0


def _minority(spec: str, classes: list[str], labels: np.ndarray) -> list[str]:
    """The ``--minority`` classes that are in the dataset; the rarest class when none is."""
    wanted = [c.strip() for c in spec.split(",") if c.strip()]
    minority = [c for c in wanted if c in classes]
    unknown = [c for c in wanted if c not in classes]
    if unknown:
        print(
            f"simulate-al: minority class(es) {unknown} are not in the dataset ({', '.join(classes)})",
            file=sys.stderr,
        )
    if not minority:
        counts = np.bincount(labels, minlength=len(classes))
        minority = [classes[int(np.argmin(counts))]]
        print(
            f"simulate-al: using the rarest class {minority} as minority instead", file=sys.stderr
        )
    return minority


def _result(args, version, strategies, minority, labels, classes, raw, summary) -> dict:
    """The ``--json`` file: the set-up, the dataset's split, the summary and the notes."""
    return {
        "config": {
            "data": str(Path(args.data)),
            "model": args.model,
            "model_version": version,
            "strategies": strategies,
            "minority": minority,
            "init": args.init,
            "budget": args.budget,
            "cycles": args.cycles,
            "repeats": args.repeats,
            "test_fraction": args.test_fraction,
            "diversity": bool(args.diversity),
            "seed": args.seed,
        },
        "dataset": {
            "samples": int(len(labels)),
            "classes": classes,
            "pool": raw["pool_size"],
            "pool_minority": raw["pool_minority"],
            "test": raw["test_size"],
            "test_minority": raw["test_minority"],
        },
        "summary": summary,
        "notes": raw["notes"],
    }


def _print_last(summary: dict, init: int, budget: int, cycles: int) -> None:
    print(f"after {cycles} cycles ({init + cycles * budget} labels):")
    for name, rows in summary.items():
        row = rows[-1]
        print(
            f"  {name:<16} minority P {row['minority_precision']['mean']:.3f} "
            f"R {row['minority_recall']['mean']:.3f} (±{row['minority_recall']['se']:.3f})  "
            f"majority P {row['majority_precision']['mean']:.3f} R {row['majority_recall']['mean']:.3f}  "
            f"acc {row['accuracy']['mean']:.3f}  minority labeled {row['minority_labeled']['mean']:.0f}"
        )
