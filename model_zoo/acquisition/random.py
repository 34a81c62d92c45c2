"""Random order: the baseline every other strategy must beat."""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext, Strategy


class RandomStrategy(Strategy):
    name = "random"

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        return ctx.rng(salt=17).random(ctx.n_pool)
