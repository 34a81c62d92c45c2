"""``python -m model_zoo bench-acquisition``: scoring time per strategy on cached feature vectors.

Writes ``--n`` random feature vectors (float16, ``--dim`` wide; clustered so the classifiers have
something to fit) to a :class:`~model_zoo.storage.feature_cache.FeatureCache`, reads them back (timed),
then times each strategy's ``score`` on the whole pool, with ``--labeled`` labeled vectors,
softmax probabilities and ``--mc-samples`` MC-dropout samples as inputs, plus the diverse ordering
of the first ``--batch`` positions. Inputs that a strategy does not read are still built once, not
timed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from model_zoo.acquisition import (
    PRESETS,
    STRATEGIES,
    AcquisitionContext,
    acquisition_order,
    get_strategy,
)
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
    parser.add_argument("--json", default=None)


def run(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(args.classes, args.dim)).astype(np.float32)
    pool_y = rng.integers(0, args.classes, args.n)
    pool = (centres[pool_y] + rng.normal(scale=2.0, size=(args.n, args.dim))).astype(np.float16)
    lab_y = rng.integers(0, args.classes, args.labeled)
    lab = centres[lab_y] + rng.normal(scale=2.0, size=(args.labeled, args.dim))
    classes = [f"class_{i}" for i in range(args.classes)]
    features, write_s, read_s = _through_cache(pool)
    logits = features[:, : args.classes] * 0.5
    probs = _softmax(logits)
    noisy = (logits + rng.normal(scale=0.3, size=logits.shape) for _ in range(args.mc_samples))
    mc = np.stack([_softmax(z) for z in noisy]).astype(np.float32)
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
        probabilities=probs,
        mc_probabilities=mc,
        classes=classes,
        minority=[classes[0]],
    )
    for name in [s.strip() for s in args.strategies.split(",") if s.strip()]:
        results["strategies"][name] = _time_strategy(name, context, args.batch)
    rows = [{"strategy": name, **r} for name, r in results["strategies"].items()]
    diverse = f"+ diverse top-{args.batch} s"
    print(format_table(rows, headers={"score_s": "score s", "order_s": diverse}))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


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


def _time_strategy(name: str, context: dict, batch: int) -> dict:
    """Seconds to score the pool with strategy ``name``, and to order a diverse batch."""
    ctx = AcquisitionContext(**context)
    strategy = get_strategy(name)
    t0 = time.perf_counter()
    scores = strategy.score(ctx)
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    acquisition_order(scores, ctx.pool_features, batch=batch)
    order_s = time.perf_counter() - t0
    return {"score_s": round(score_s, 3), "order_s": round(order_s, 3)}
