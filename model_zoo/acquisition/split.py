"""``minority-split``: a budget split that finds the rare classes *and* trains the best model.

The paper's discriminator (:mod:`model_zoo.acquisition.discriminator`) spends the whole budget on
likely minority samples. Once the easy ones are found its picks are majority samples that merely
look rare, the labeled set fills with the minority, and the task model both starves the majority
classes and over-predicts the minority: overall accuracy falls behind BALD. This strategy spends a
*share* of every round on the minority and the rest on what the task model is unsure about:

- **minority part**: one one-vs-rest discriminator per minority class (the paper's calibrated,
  class-balanced logistic regression on the backbone features); the part takes the classes'
  best picks in turn, so every rare class gets its slots, not only the easiest. A minority class
  without a label yet is searched by core-set (farthest from everything labeled).
- **other part**: margin (or BALD, entropy: ``other``) of the task model among the rest, made
  diverse: the ``10 x`` best candidates are clustered with k-means and the best of each cluster
  is kept (:func:`~model_zoo.acquisition.diversity.diverse_top_k`). Margin by default: in
  ``simulate-al`` it did as well as BALD here and needs no MC-dropout passes (docs/queue-ordering.md).
- **the split**, adapted from round to round. The labels tell how many of the previous round's
  minority picks really were minority (``ctx.history["picked_labels"]``); that *found share*
  (smoothed with the previous one, ``PRIOR_PICKS`` pseudo-picks) caps the minority share: a
  discriminator that finds little gets little. The share is also no more than what the minority
  classes still lack for a balanced labeled set after this round, divided by the found share
  (the picks it takes to find them); within ``[low, high]``. So the minority is found early and
  fast, and once it is as well represented as the other classes the budget goes to them, with
  ``low`` still searching for the rare cases not found yet.
- nothing labeled yet, or no minority class known: typical samples first (TypiClust).

The result is one complete order, so the caller does not re-diversify it (``ordered``): the first
``ctx.batch`` positions (else ``DEFAULT_WINDOW``) are the round, interleaved so that any prefix
holds about the split's share of minority picks; the rest of the pool follows interleaved the same
way. ``ctx.report`` holds the share, the found share and the pool rows of the minority picks, for
the caller to hand back (with the labels they got) as the next round's ``ctx.history``.
"""

from __future__ import annotations

import numpy as np

from model_zoo.acquisition.bald import Bald
from model_zoo.acquisition.base import AcquisitionContext, Strategy
from model_zoo.acquisition.coreset import CoreSet
from model_zoo.acquisition.discriminator import one_vs_rest_probability, resolve_minority
from model_zoo.acquisition.diversity import diverse_top_k
from model_zoo.acquisition.entropy import Entropy
from model_zoo.acquisition.margin import Margin
from model_zoo.acquisition.typiclust import typical_picks

DEFAULT_WINDOW = 50
#: weight (in picks) of the previous found share when the last picks' labels update it
PRIOR_PICKS = 2.0
#: what the other part can rank by
OTHER: dict[str, type[Strategy]] = {"margin": Margin, "bald": Bald, "entropy": Entropy}


def interleave(first: list[int], second: list[int], share: float, n: int) -> list[int]:
    """``n`` distinct items, ``share`` of every prefix from ``first``, the rest from ``second``
    (each list in its own order; when one runs out the other fills up)."""
    out: list[int] = []
    taken: set[int] = set()
    i = j = from_first = 0
    while len(out) < n and (i < len(first) or j < len(second)):
        want_first = from_first < share * (len(out) + 1) - 1e-9
        if (want_first and i < len(first)) or j >= len(second):
            item, i, is_first = first[i], i + 1, True
        else:
            item, j, is_first = second[j], j + 1, False
        if item in taken:
            continue
        taken.add(item)
        out.append(item)
        from_first += is_first
    return out


def round_robin(rankings: list[np.ndarray]) -> list[int]:
    """The rankings (index arrays, best first) merged by taking each one's next best in turn."""
    out: list[int] = []
    seen: set[int] = set()
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and int(ranking[rank]) not in seen:
                seen.add(int(ranking[rank]))
                out.append(int(ranking[rank]))
    return out


class MinoritySplit(Strategy):
    name = "minority-split"
    ordered = True

    def __init__(
        self,
        *,
        other: str = "margin",
        start: float = 0.5,
        low: float = 0.2,
        high: float = 0.8,
        balance: bool = True,
        per_class: bool = True,
    ):
        if other not in OTHER:
            raise ValueError(f"other must be one of {sorted(OTHER)}, not {other!r}")
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("need 0 <= low <= high <= 1")
        self.other, self.start, self.low, self.high = other, start, low, high
        self.balance, self.per_class = balance, per_class

    # ------------------------------------------------------------------ the two parts
    def minority_scores(self, ctx: AcquisitionContext, minority: list[str]) -> list[np.ndarray]:
        """Scores per pool row: P(class) of each minority class (or of any of them, without
        ``per_class``); core-set distance for classes without a label yet."""
        labels = np.asarray(ctx.labeled_labels, dtype=object)
        groups = [[c] for c in minority] if self.per_class else [list(minority)]
        out, unseen = [], []
        for group in groups:
            target = np.isin(labels, group)
            if 0 < target.sum() < ctx.n_labeled:
                out.append(one_vs_rest_probability(ctx, target))
            else:
                unseen += group
        if unseen:
            ctx.note(f"{self.name}: no label of {unseen} yet; searching for them by core-set")
            out.append(CoreSet().score(ctx))
        return out

    def other_scores(self, ctx: AcquisitionContext) -> np.ndarray:
        """Informativeness of every pool row for the task model (BALD / margin / entropy)."""
        if ctx.probabilities is None:
            ctx.note(f"{self.name}: no trained model yet; the other part is diverse (core-set)")
            return CoreSet().score(ctx)
        return OTHER[self.other]().score(ctx)

    # ------------------------------------------------------------------ the split
    def found_share(self, ctx: AcquisitionContext, minority: list[str]) -> float:
        """The share of minority picks that turned out minority: the previous estimate
        (``start`` at first) updated by the labels of the last round's picks."""
        before = float(ctx.history.get("found", self.start))
        picked = list(ctx.history.get("picked_labels") or [])
        hits = sum(label in set(minority) for label in picked)
        return (hits + PRIOR_PICKS * before) / (len(picked) + PRIOR_PICKS)

    def shortfall(self, ctx: AcquisitionContext, minority: list[str], window: int) -> float:
        """Labels the minority classes lack, after this round, to have as many as a class
        would in a balanced labeled set."""
        counts = ctx.label_counts()
        n_classes = max(len(set(ctx.classes) | set(counts)), 1)
        fair = (ctx.n_labeled + window) / n_classes
        return float(sum(max(0.0, fair - counts.get(c, 0)) for c in minority))

    def split(self, ctx: AcquisitionContext, minority: list[str], window: int) -> tuple:
        """(the minority share of this round, the found share it rests on)."""
        found = self.found_share(ctx, minority)
        share = min(found, self.high)
        if self.balance:
            slots = self.shortfall(ctx, minority, window) / max(found, 0.05)
            share = min(share, slots / max(window, 1))
        return float(np.clip(share, self.low, self.high)), found

    # ------------------------------------------------------------------ the order
    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        n = ctx.n_pool
        window = int(min(n, ctx.batch or DEFAULT_WINDOW))
        minority = resolve_minority(ctx) if ctx.n_labeled else []
        if not minority:
            why = "nothing is labeled yet" if not ctx.n_labeled else "no minority class known"
            ctx.note(f"{self.name}: {why}; typical samples first (TypiClust)")
            first = typical_picks(ctx.pool_features, ctx.labeled_features, window, seed=ctx.seed)
            rest = [int(i) for i in np.argsort(-ctx.rng(salt=29).random(n))]
            return _as_scores(interleave(first, rest, 1.0, n), n)
        share, found = self.split(ctx, minority, window)
        per_class = self.minority_scores(ctx, minority)
        minority_rank = round_robin([np.argsort(-s, kind="stable") for s in per_class])
        head_min = minority_rank[: int(round(share * window))]
        other = np.asarray(self.other_scores(ctx), dtype=np.float64)
        head_other = self._other_head(ctx, other, head_min, window - len(head_min))
        head = interleave(head_min, head_other, share, window)
        in_head = set(head)
        other_rank = [int(i) for i in np.argsort(-other, kind="stable") if int(i) not in in_head]
        rest_min = [i for i in minority_rank if i not in in_head]
        order = head + interleave(rest_min, other_rank, share, n - len(head))
        ctx.report = {"split": share, "found": found, "minority_picks": head_min}
        return _as_scores(order, n)

    def _other_head(
        self, ctx: AcquisitionContext, other: np.ndarray, taken: list[int], k: int
    ) -> list[int]:
        """The other part's ``k`` diverse picks of the first window, none of ``taken``."""
        if k <= 0:
            return []
        free = np.ones(ctx.n_pool, dtype=bool)
        free[taken] = False
        rows = np.flatnonzero(free)
        picks = diverse_top_k(other[rows], ctx.pool_features[rows], k, seed=ctx.seed)
        return [int(rows[i]) for i in picks]


def _as_scores(order: list[int], n: int) -> np.ndarray:
    """Scores that rank ``order`` (first = highest); rows missing from it come last."""
    scores = np.zeros(n)
    if order:
        scores[np.asarray(order, dtype=np.int64)] = np.linspace(1.0, 1.0 / n, len(order))
    return scores
