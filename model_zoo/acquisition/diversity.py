"""Batch diversity: one round should not send 200 near-duplicates of the same rust stain.

:func:`acquisition_order` turns scores into a full labeling order (best first). With
``batch > 0`` the first ``batch`` positions are chosen for diversity by *cluster-based top-k*:
take the ``candidate_factor * batch`` (10 x) best-scored samples, cluster their (L2-normalised)
features into ``batch`` clusters with k-means, keep the best-scored sample of each cluster, and
order those picks by score. The remaining samples follow in score order, so the queue is still
complete; it is recomputed after every training round anyway.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from model_zoo.acquisition.coreset import l2_normalise


def diverse_top_k(
    scores: np.ndarray, features: np.ndarray, k: int, candidate_factor: int = 10, seed: int = 0
) -> list[int]:
    """Indices of ``k`` high-scoring, mutually different samples (best score first)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    k = min(int(k), n)
    if k <= 0:
        return []
    by_score = np.argsort(-scores, kind="stable")
    candidates = by_score[: min(n, max(k, int(candidate_factor) * k))]
    if len(candidates) <= k:
        return [int(i) for i in candidates]
    x = l2_normalise(np.asarray(features)[candidates])
    labels = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=50).fit_predict(x)
    best: dict[int, int] = {}
    for position, cluster in enumerate(labels):  # candidates are in score order
        best.setdefault(int(cluster), int(candidates[position]))
    picks = sorted(best.values(), key=lambda i: -scores[i])
    if len(picks) < k:  # k-means may leave clusters empty on duplicate points
        taken = set(picks)
        picks += [int(i) for i in candidates if int(i) not in taken][: k - len(picks)]
    return picks


def acquisition_order(
    scores: np.ndarray, features: np.ndarray | None = None, batch: int = 0, seed: int = 0
) -> np.ndarray:
    """A permutation of the pool, first = label first. ``batch``: diversity of the first batch."""
    scores = np.asarray(scores, dtype=np.float64)
    by_score = np.argsort(-scores, kind="stable")
    if batch <= 0 or features is None or len(scores) <= 1:
        return by_score
    head = diverse_top_k(scores, features, batch, seed=seed)
    taken = np.zeros(len(scores), dtype=bool)
    taken[head] = True
    return np.concatenate([np.asarray(head, dtype=np.int64), by_score[~taken[by_score]]])


def rank_pool(strategy, ctx, *, diversity: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(scores, order) of ``strategy`` on ``ctx``: the order is made diverse over its first
    ``diversity`` positions, unless the strategy orders its batch itself (``strategy.ordered``)."""
    scores = strategy.score(ctx)
    batch = 0 if getattr(strategy, "ordered", False) else diversity
    return scores, acquisition_order(scores, ctx.pool_features, batch=batch, seed=seed)
