"""Entropy of the predicted class distribution."""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.base import AcquisitionContext, entropy
from model_zoo.acquisition.probability import ProbabilityStrategy


class Entropy(ProbabilityStrategy):
    name = "entropy"

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        return entropy(ctx.probabilities)
