"""Discriminative Active Learning (Gissin & Shalev-Shwartz 2019): a labeled-vs-unlabeled classifier
on backbone features; the samples it finds most "unlabeled-looking" represent the parts of the pool
the labeled set does not cover yet. Score = P(unlabeled).

The discriminator is a class-balanced logistic regression on standardised features; at most
``max_unlabeled`` pool rows (random) are used to fit it, all rows are scored.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model_zoo.acquisition.base import AcquisitionContext, Strategy


class Dal(Strategy):
    name = "dal"
    needs = frozenset({"labeled"})
    max_unlabeled = 20000

    def fallback(self, ctx: AcquisitionContext) -> Strategy:
        from model_zoo.acquisition.coreset import CoreSet

        return CoreSet()

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        pool = ctx.pool_features
        fit_rows = pool
        if len(pool) > self.max_unlabeled:
            pick = ctx.rng(salt=5).choice(len(pool), self.max_unlabeled, replace=False)
            fit_rows = pool[pick]
        x = np.concatenate([ctx.labeled_features, fit_rows])
        y = np.r_[np.zeros(ctx.n_labeled), np.ones(len(fit_rows))]
        model = make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=500, C=0.1)
        )
        model.fit(x, y)
        return model.predict_proba(pool)[:, 1]
