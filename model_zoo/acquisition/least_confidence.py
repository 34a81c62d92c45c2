"""Least confidence: 1 - the probability of the predicted class."""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext
from model_zoo.acquisition.probability import ProbabilityStrategy


class LeastConfidence(ProbabilityStrategy):
    name = "least-confidence"

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        return 1.0 - ctx.probabilities.max(axis=1)
