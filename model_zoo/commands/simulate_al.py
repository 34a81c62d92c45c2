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
fits the classifier's own head on them with the recipe of the backend's fast version, the linear
probe (:func:`model_zoo.classifier.head.fit_head`: class-weighted loss, AdamW, warm-up and cosine);
strategies come from the registry (``get_strategy``) and BALD reads the same MC dropout
(:func:`model_zoo.acquisition.bald.mc_dropout_probabilities`) as the backend's queue round.
With ``--minority-share`` the minority classes are subsampled (seeded, per repeat) in pool and
test set (:mod:`model_zoo.commands.al_loop`); ``--baseline`` (bald) prints every strategy's
minority recall ratio and paired accuracy difference at the last cycle.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from model_zoo.acquisition import get_strategy
from model_zoo.acquisition.base import AcquisitionError
from model_zoo.classifier.head import classifier_head
from model_zoo.commands.al_loop import Loop, simulate
from model_zoo.commands.al_report import (
    cycle_table,
    plot,
    print_last,
    print_versus,
    summarise,
    versus,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- command line
def dataset_features(data: Path, model: str, cache_dir: Path | None, batch_size: int = 64):
    """(features, labels as indices, classes, model version, the classifier's untrained head)
    of a dataset; embeddings cached per model version."""
    from model_zoo.classifier.model import load_classifier
    from model_zoo.data.dataset import load_dataset, open_image
    from model_zoo.registry import default_model_dir
    from model_zoo.storage.feature_cache import FeatureCache, cached_embeddings

    dataset = load_dataset(data, verify=False)
    # MODEL_DIR given: the zoo entry is built into it once, not again on every run (a rebuilt
    # folder is a new model version, and the feature cache would miss)
    classifier = load_classifier(
        model, dataset.classes, model_dir=default_model_dir(), device="cpu"
    )
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
        "--minority-share",
        type=float,
        default=0.0,
        help="subsample the minority classes (seeded, per repeat) to this share of the pool and "
        "of the test set, e.g. 0.05 (default: as they are)",
    )
    parser.add_argument(
        "--rare-share",
        type=float,
        default=0.0,
        help="do not tell the strategies the minority: every class under this estimated share "
        "counts as minority for them (MINORITY_SHARE); the figures still use --minority",
    )
    parser.add_argument("--per-cycle", action="store_true", help="print every cycle's figures")
    parser.add_argument(
        "--baseline", default="bald", help="compare every strategy with this one (bald)"
    )
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
    loop = Loop(
        init=args.init,
        budget=args.budget,
        cycles=args.cycles,
        diversity=int(bool(args.diversity)),
        seed=args.seed,
        test_fraction=args.test_fraction,
        minority_share=args.minority_share,
        rare_share=args.rare_share,
    )
    try:
        raw = simulate(
            features, labels, classes, strategies, minority, loop, repeats=args.repeats,
            head=head, progress=not args.quiet,
        )  # fmt: skip
    except ValueError as exc:
        print(f"simulate-al: error: {exc}", file=sys.stderr)
        return 2
    summary = summarise(raw["per_repeat"], args.init, args.budget)
    result = _result(args, version, strategies, minority, labels, classes, raw, summary)
    if args.baseline in strategies:
        result["versus"] = {args.baseline: versus(raw["per_repeat"], args.baseline)}
    _write(args, summary, result, started)
    if args.per_cycle:
        print(cycle_table(summary))
    print_last(summary, args.init, args.budget, args.cycles)
    if args.baseline in strategies:
        print_versus(result["versus"][args.baseline], args.baseline)
    return 0


def _write(args, summary: dict, result: dict, started: float) -> None:
    """The ``--json`` and ``--plot`` files, when asked for."""
    if args.json:
        result["seconds"] = round(time.perf_counter() - started, 1)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        share = f", minority subsampled to {args.minority_share:.0%}" if args.minority_share else ""
        plot(
            summary,
            Path(args.plot),
            f"AL on {Path(args.data).name}: minority {', '.join(result['config']['minority'])}"
            f"{share}, {args.budget} labels/cycle, mean ± SE over {args.repeats} repeats",
        )


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
            "minority_share": args.minority_share,
            "rare_share": args.rare_share,
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


__all__ = ["Loop", "plot", "simulate", "summarise"]
