"""The base of the strategies that read the current model's class probabilities."""

from __future__ import annotations

from model_zoo.acquisition.base import AcquisitionContext, Strategy
from model_zoo.acquisition.random import RandomStrategy


class ProbabilityStrategy(Strategy):
    """A strategy on the current model's probabilities; without a model it falls back to random."""

    needs = frozenset({"probabilities"})

    def fallback(self, ctx: AcquisitionContext) -> Strategy:
        return RandomStrategy()
