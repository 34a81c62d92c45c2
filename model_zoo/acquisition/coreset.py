"""Core-set (Sener & Savarese 2018): the samples farthest from everything labeled so far.

As a score: the cosine distance of each pool sample to its nearest labeled sample. The greedy
k-centre *batch* selection (each pick updates the distances) is :func:`k_center_greedy`, used by
this strategy's batch selection and by :mod:`model_zoo.acquisition.diversity`.
"""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext, Strategy


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def nearest_distance(pool: np.ndarray, reference: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Cosine distance of each (normalised) pool row to its nearest (normalised) reference row."""
    out = np.empty(len(pool), dtype=np.float32)
    ref_t = reference.T
    for start in range(0, len(pool), chunk):
        sims = pool[start : start + chunk] @ ref_t
        out[start : start + chunk] = 1.0 - sims.max(axis=1)
    return out


def k_center_greedy(
    features: np.ndarray, k: int, reference: np.ndarray | None = None, seed: int = 0
) -> list[int]:
    """Greedy k-centre: ``k`` row indices of ``features``, each the farthest from the reference
    rows and the rows picked before it (cosine distance)."""
    x = l2_normalise(features)
    k = min(int(k), len(x))
    if k <= 0:
        return []
    if reference is not None and len(reference):
        dist = nearest_distance(x, l2_normalise(reference))
    else:
        dist = np.full(len(x), np.inf, dtype=np.float32)
    picked: list[int] = []
    if not np.isfinite(dist).any():
        first = int(np.random.default_rng(seed).integers(len(x)))
        picked.append(first)
        dist = 1.0 - x @ x[first]
    while len(picked) < k:
        i = int(np.argmax(dist))
        picked.append(i)
        dist = np.minimum(dist, 1.0 - x @ x[i])
        dist[i] = -np.inf
    return picked


class CoreSet(Strategy):
    name = "coreset"

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        pool = l2_normalise(ctx.pool_features)
        if ctx.n_labeled == 0:
            ctx.note("coreset: no labeled samples yet; distance to the pool centre instead")
            centre = l2_normalise(pool.mean(axis=0, keepdims=True))
            return 1.0 - (pool @ centre.T)[:, 0]
        return nearest_distance(pool, l2_normalise(ctx.labeled_features))
