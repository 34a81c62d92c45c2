"""Combining strategies: rank-normalised scores multiplied or averaged with weights.

``Combined([Discriminator(), Dal()], mode="product")`` ranks high what is both likely minority
and unlike the labeled set ("minority x representativeness"). Scores are rank-normalised to (0, 1]
first, so scales (probabilities, distances, nats) do not matter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext, Strategy, rank_normalise


class Combined(Strategy):
    def __init__(
        self,
        strategies: Sequence[Strategy],
        weights: Sequence[float] | None = None,
        mode: str = "product",
    ):
        if not strategies:
            raise ValueError("Combined needs at least one strategy")
        if mode not in {"product", "sum"}:
            raise ValueError(f"mode must be 'product' or 'sum', not {mode!r}")
        self.strategies = list(strategies)
        self.weights = np.asarray(
            weights if weights is not None else [1.0] * len(strategies), float
        )
        if len(self.weights) != len(self.strategies) or (self.weights < 0).any():
            raise ValueError("one non-negative weight per strategy")
        self.mode = mode
        joiner = "*" if mode == "product" else "+"
        self.name = joiner.join(s.name for s in self.strategies)

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        parts = np.stack([rank_normalise(s.score(ctx)) for s in self.strategies])
        w = self.weights / max(self.weights.sum(), 1e-12)
        if self.mode == "product":  # weighted geometric mean
            return np.exp((w[:, None] * np.log(parts)).sum(axis=0))
        return (w[:, None] * parts).sum(axis=0)

    def __repr__(self) -> str:
        return f"Combined({self.strategies!r}, weights={self.weights.tolist()}, mode={self.mode!r})"
