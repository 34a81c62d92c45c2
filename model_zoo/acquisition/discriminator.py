"""The paper's acquisition for imbalanced data (Frick et al. 2022, ref. [33]): a binary
discriminator trained one-vs-all, minority classes vs majority classes, on backbone features of
the labeled samples; the pool is ranked by the calibrated probability of being minority, so the
labeling budget goes to samples predicted to be minority.

Minority classes: ``ctx.minority`` (configured; names compared ignoring case, spaces, ``-``/``_``);
names that are not classes of the project are reported and ignored; with none configured (or
none left) the rarest labeled class(es) are the minority.

Model: standardised features -> logistic regression with balanced class weights. Probabilities
are calibrated (``CalibratedClassifierCV``, sigmoid, 3-fold) when both sides have at least
``min_per_side_to_calibrate`` samples; below that the plain regression's probabilities are used.

Fallbacks (a note says which was taken): no minority label yet, or only minority labels -> core-set
(farthest from the labeled set: rare defects look unlike what is labeled); nothing labeled -> random.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model_zoo.acquisition.base import AcquisitionContext, Strategy

log = logging.getLogger(__name__)


def _canon(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def resolve_minority(ctx: AcquisitionContext) -> list[str]:
    """The minority class names for ``ctx`` (see the module doc); may be empty."""
    counts = ctx.label_counts()
    known = list(dict.fromkeys([*ctx.classes, *counts]))
    by_canon = {_canon(c): c for c in known}
    chosen: list[str] = []
    if ctx.minority:
        unknown = []
        for name in ctx.minority:
            match = by_canon.get(_canon(name))
            if match is None:
                unknown.append(name)
            elif match not in chosen:
                chosen.append(match)
        if unknown:
            ctx.note(
                f"minority class(es) {unknown} are not classes of this project "
                f"({', '.join(known) or 'none known'}); ignored"
            )
    if not chosen and ctx.minority_share > 0 and len(counts) >= 2:
        chosen = rare_classes(ctx)
    if not chosen and len(counts) >= 2:
        fewest = min(counts.values())
        chosen = sorted(c for c, n in counts.items() if n == fewest)
        message = f"minority = rarest labeled class(es) {chosen} ({fewest} labels each)"
        if ctx.minority:
            ctx.note(f"discriminator: {message}, since no configured minority class is known")
        else:
            log.info("discriminator: %s", message)
    return chosen


def rare_classes(ctx: AcquisitionContext) -> list[str]:
    """The classes whose estimated share of the project (:meth:`AcquisitionContext.class_shares`)
    is below ``ctx.minority_share``, rarest first; never every class."""
    shares = ctx.class_shares()
    rare = sorted((s, c) for c, s in shares.items() if s < ctx.minority_share)
    if len(rare) >= len(shares):
        rare = rare[:-1]  # the commonest stays majority
    chosen = [c for _, c in rare]
    if chosen:
        log.info(
            "minority = classes under %.0f %% of the project: %s", 100 * ctx.minority_share, chosen
        )
    return chosen


def minority_mask(labels: Sequence[str], minority: Sequence[str]) -> np.ndarray:
    wanted = set(minority)
    return np.array([label in wanted for label in labels], dtype=bool)


class Discriminator(Strategy):
    name = "discriminator"
    min_per_side_to_calibrate = 6

    def fallback_for(self, ctx: AcquisitionContext) -> Strategy:
        from model_zoo.acquisition.coreset import CoreSet
        from model_zoo.acquisition.random import RandomStrategy

        return CoreSet() if ctx.n_labeled else RandomStrategy()

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        minority = resolve_minority(ctx) if ctx.n_labeled else []
        y = minority_mask(ctx.labeled_labels, minority)
        positives, negatives = int(y.sum()), int((~y).sum())
        if positives == 0 or negatives == 0:
            other = self.fallback_for(ctx)
            if ctx.n_labeled == 0:
                why = "nothing is labeled yet"
            elif positives == 0:
                why = f"no labeled sample of the minority class(es) {minority or '(none)'} yet"
            else:
                why = "every labeled sample is minority (no majority labels yet)"
            ctx.note(f"discriminator: {why}; ranking by {other.name} this round")
            return other.score(ctx)
        return one_vs_rest_probability(ctx, y, self.min_per_side_to_calibrate)


def one_vs_rest_probability(
    ctx: AcquisitionContext, target: np.ndarray, min_per_side_to_calibrate: int = 6
) -> np.ndarray:
    """P(target) of every pool row: a class-balanced logistic regression on the standardised
    features of the labeled rows (``target``: one bool per labeled row, both sides present),
    sigmoid-calibrated (3-fold) once both sides have ``min_per_side_to_calibrate`` rows."""
    base = make_pipeline(
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=1000, C=0.5),
    )
    if min(int(target.sum()), int((~target).sum())) >= min_per_side_to_calibrate:
        model = CalibratedClassifierCV(base, method="sigmoid", cv=3)
    else:
        model = base
    model.fit(ctx.labeled_features, target.astype(int))
    return model.predict_proba(ctx.pool_features)[:, 1]
