"""``python -m model_zoo bench-acquisition``: scoring time per strategy on cached feature vectors.

Writes ``--n`` random feature vectors (float16, ``--dim`` wide; clustered so the classifiers have
something to fit) to a :class:`~model_zoo.storage.feature_cache.FeatureCache`, reads them back (timed),
then times each strategy's ``score`` on the whole pool, with ``--labeled`` labeled vectors,
softmax probabilities and ``--mc-samples`` MC-dropout samples as inputs, plus the diverse ordering
of the first ``--batch`` positions (a strategy that orders its batch itself, ``minority-split``,
has none). ``mc s``: making the MC-dropout samples as a queue round does (a linear head of the
feature width, ``--mc-samples`` passes with dropout on its input), counted for the strategies that
read them; ``total s`` adds the three, and ``x baseline`` compares it with ``--baseline``'s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from model_zoo.acquisition import PRESETS, STRATEGIES, AcquisitionContext, get_strategy, rank_pool
from model_zoo.acquisition.bald import mc_dropout_probabilities
from model_zoo.acquisition.base import reads_mc_samples
from model_zoo.storage.feature_cache import FeatureCache
from model_zoo.table import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=100_000, help="pool size (100000)")
    parser.add_argument("--dim", type=int, default=384, help="feature width (384, ViT-S)")
    parser.add_argument("--labeled", type=int, default=1000, help="labeled vectors (1000)")
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--mc-samples", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200, help="diverse batch size (200)")
    parser.add_argument(
        "--strategies", default=",".join([*STRATEGIES, *PRESETS]), help="comma-separated"
    )
    parser.add_argument(
        "--baseline", default="discriminator", help="strategy the totals are compared with"
    )
    parser.add_argument("--json", default=None)


def run(args: argparse.Namespace) -> int:
    context, results = _inputs(args)
    features = context["pool_features"]
    mc_s = _mc_seconds(features, args.classes, args.mc_samples)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for name in dict.fromkeys([*names, args.baseline]):
        results["strategies"][name] = _time_strategy(name, context, args.batch, mc_s)
    base = results["strategies"][args.baseline]["total_s"]
    rows = []
    for name in names:
        timing = results["strategies"][name]
        timing["x_baseline"] = round(timing["total_s"] / max(base, 1e-9), 2)
        rows.append({"strategy": name, **timing})
    headers = {
        "mc_s": "mc s",
        "score_s": "score s",
        "order_s": f"diverse top-{args.batch} s",
        "total_s": "total s",
        "x_baseline": f"x {args.baseline}",
    }
    print(format_table(rows, headers=headers, digits={"x_baseline": 2}))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _mc_seconds(features: np.ndarray, classes: int, samples: int) -> float:
    """Seconds to make ``samples`` MC-dropout passes of a linear head over ``features``."""
    head = torch.nn.Linear(features.shape[1], classes)
    t0 = time.perf_counter()
    mc_dropout_probabilities(head, features, samples=samples)
    return time.perf_counter() - t0


def _inputs(args: argparse.Namespace) -> tuple[dict, dict]:
    """The scoring inputs (clustered random vectors read back through a feature cache) and the
    results dict with the cache's timings."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(args.classes, args.dim)).astype(np.float32)
    pool_y = rng.integers(0, args.classes, args.n)
    pool = (centres[pool_y] + rng.normal(scale=2.0, size=(args.n, args.dim))).astype(np.float16)
    lab_y = rng.integers(0, args.classes, args.labeled)
    lab = centres[lab_y] + rng.normal(scale=2.0, size=(args.labeled, args.dim))
    classes = [f"class_{i}" for i in range(args.classes)]
    features, write_s, read_s = _through_cache(pool)
    logits = features[:, : args.classes] * 0.5
    noisy = (logits + rng.normal(scale=0.3, size=logits.shape) for _ in range(args.mc_samples))
    results = {
        "n": args.n,
        "dim": args.dim,
        "labeled": args.labeled,
        "cache_write_s": round(write_s, 3),
        "cache_read_s": round(read_s, 3),
        "strategies": {},
    }
    print(f"feature cache: write {write_s:.2f} s, read {read_s:.2f} s for {args.n} x {args.dim}")
    context = dict(  # a fresh AcquisitionContext per strategy: nothing cached carries over
        pool_features=features,
        labeled_features=lab,
        labeled_labels=[classes[i] for i in lab_y],
        probabilities=_softmax(logits),
        mc_probabilities=np.stack([_softmax(z) for z in noisy]).astype(np.float32),
        classes=classes,
        minority=[classes[0]],
    )
    return context, results


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _through_cache(pool: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(the features as read back, seconds to write, seconds to read) of a feature cache."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        keys = [f"task-{i}" for i in range(len(pool))]
        t0 = time.perf_counter()
        cache.put("bench", keys, pool)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        found, features = cache.get("bench", keys)
        read_s = time.perf_counter() - t0
        assert found.all()
    return features, write_s, read_s


def _time_strategy(name: str, context: dict, batch: int, mc_s: float) -> dict:
    """Seconds to score the pool with strategy ``name``, and to order a diverse batch."""
    ctx = AcquisitionContext(**context, batch=batch)
    strategy = get_strategy(name)
    t0 = time.perf_counter()
    scores = strategy.score(ctx)
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rank_pool(_Scored(strategy, scores), ctx, diversity=batch)
    order_s = time.perf_counter() - t0
    mc = mc_s if reads_mc_samples(strategy) else 0.0
    return {
        "mc_s": round(mc, 3),
        "score_s": round(score_s, 3),
        "order_s": round(order_s, 3),
        "total_s": round(mc + score_s + order_s, 3),
    }


class _Scored:
    """``strategy`` with its scores already computed (only the ordering is timed)."""

    def __init__(self, strategy, scores: np.ndarray):
        self.ordered, self.scores = getattr(strategy, "ordered", False), scores

    def score(self, ctx) -> np.ndarray:
        return self.scores
