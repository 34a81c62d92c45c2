"""TypiClust (Hacohen et al., ICML 2022): with few labels, label *typical* samples first.

Cluster every sample (pool and labeled) into ``n_labeled + k`` groups with k-means; the groups
holding the fewest labeled samples are the parts of the data nobody has labeled yet, and from each
such group the most typical pool sample is picked: the one with the smallest mean distance to its
nearest neighbours inside the group (the densest point). Opposite to uncertainty, which pays only
once the model has seen the typical cases ("opposite strategies suit high and low budgets").

To stay cheap on 10 000 tasks the features are L2-normalised and reduced to ``dims`` principal
components first, and at most ``max_clusters`` groups are made.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from model_zoo.acquisition.base import AcquisitionContext, Strategy
from model_zoo.acquisition.coreset import l2_normalise

NEIGHBOURS = 20


def _reduced(x: np.ndarray, dims: int, seed: int) -> np.ndarray:
    x = l2_normalise(x)
    if x.shape[1] <= dims or len(x) <= dims:
        return x
    return PCA(n_components=dims, random_state=seed).fit_transform(x).astype(np.float32)


def _typicality(x: np.ndarray) -> np.ndarray:
    """1 / mean distance to the ``NEIGHBOURS`` nearest other rows of ``x`` (a dense spot: high)."""
    if len(x) < 2:
        return np.ones(len(x))
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0))
    k = min(NEIGHBOURS, len(x) - 1)
    nearest = np.sort(d, axis=1)[:, 1 : k + 1]
    return 1.0 / (nearest.mean(axis=1) + 1e-8)


def typical_picks(
    pool: np.ndarray,
    labeled: np.ndarray | None,
    k: int,
    *,
    seed: int = 0,
    dims: int = 32,
    max_clusters: int = 200,
    max_members: int = 500,
) -> list[int]:
    """Up to ``k`` pool row indices, one per least-covered k-means group, most typical first."""
    n_lab = 0 if labeled is None else len(labeled)
    k = min(int(k), len(pool))
    if k <= 0:
        return []
    x = pool if not n_lab else np.concatenate([pool, labeled])
    x = _reduced(x, dims, seed)
    n_clusters = int(min(max_clusters, n_lab + k, len(x)))
    groups = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed, max_iter=50).fit_predict(x)
    covered = np.bincount(groups[len(pool) :], minlength=n_clusters)
    sizes = np.bincount(groups[: len(pool)], minlength=n_clusters)
    rng = np.random.default_rng(seed)
    picks: list[tuple[int, int, int]] = []  # (labeled in group, -size, pool index)
    for g in range(n_clusters):
        members = np.flatnonzero(groups[: len(pool)] == g)
        if not len(members):
            continue
        sample = members if len(members) <= max_members else rng.choice(members, max_members)
        best = int(sample[int(np.argmax(_typicality(x[sample])))])
        picks.append((int(covered[g]), -int(sizes[g]), best))
    picks.sort()
    return [i for _, _, i in picks[:k]]


class TypiClust(Strategy):
    """Typical samples of the least-covered groups first (``ctx.batch`` of them, else 50), then
    the rest in random order."""

    name = "typiclust"
    ordered = True

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        k = ctx.batch or min(ctx.n_pool, 50)
        first = typical_picks(ctx.pool_features, ctx.labeled_features, k, seed=ctx.seed)
        scores = ctx.rng(salt=23).random(ctx.n_pool) * 0.5  # the rest: random order
        scores[first] = 1.0 + np.linspace(1.0, 0.0, len(first), endpoint=False)
        return scores
