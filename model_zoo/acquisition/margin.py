"""Margin: a small gap between the two most probable classes means uncertain; score = -(p1 - p2)."""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext
from model_zoo.acquisition.probability import ProbabilityStrategy


class Margin(ProbabilityStrategy):
    name = "margin"

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        p = ctx.probabilities
        if p.shape[1] < 2:
            return np.zeros(p.shape[0])
        top2 = np.partition(p, -2, axis=1)[:, -2:]
        return -(top2[:, 1] - top2[:, 0])
