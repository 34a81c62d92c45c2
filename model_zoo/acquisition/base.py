"""What every acquisition strategy shares: the context it reads and the ``Strategy`` base class.

A strategy turns a pool of unlabeled samples into one score per sample; **higher means "label
sooner"**. Strategies only read arrays from an :class:`AcquisitionContext` (backbone features,
labels of the labeled set, class probabilities, MC-dropout samples), so the same code ranks a
simulated pool and a Label Studio project. Like baal's heuristics, a subclass overrides
``compute_score`` only; ``score`` checks the inputs and the output.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


class AcquisitionError(ValueError):
    """A strategy cannot run on this context; the message says what is missing."""


@dataclass
class AcquisitionContext:
    """Inputs of a scoring round.

    ``pool_features``: (N, D) backbone embeddings of the unlabeled pool.
    ``labeled_features`` / ``labeled_labels``: (M, D) embeddings and class names of labeled samples.
    ``probabilities``: (N, C) class probabilities of the current model on the pool (optional).
    ``mc_probabilities``: (T, N, C) probabilities under T MC-dropout passes (optional, for BALD).
    ``classes``: the class names the project knows (label config choices); ``minority``: the
    configured minority classes (empty: every class whose estimated share of the project is
    below ``minority_share``, else the rarest labeled classes); ``probability_classes``: the class
    of each column of ``probabilities`` (empty: ``classes``).
    ``batch``: how many of the first positions the caller will label before the next round (0:
    unknown); ``history``: what the previous round's :attr:`report` said, with the labels its
    picks got since (see :mod:`model_zoo.acquisition.split`); ``report``: what a strategy wants
    the next round to know (filled while scoring).
    ``notes`` collects human-readable messages about fallbacks taken while scoring.
    """

    pool_features: np.ndarray
    labeled_features: np.ndarray | None = None
    labeled_labels: Sequence[str] = ()
    probabilities: np.ndarray | None = None
    mc_probabilities: np.ndarray | None = None
    classes: Sequence[str] = ()
    minority: Sequence[str] = ()
    minority_share: float = 0.0
    probability_classes: Sequence[str] = ()
    seed: int = 0
    batch: int = 0
    history: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pool_features = np.asarray(self.pool_features, dtype=np.float32)
        if self.pool_features.ndim != 2:
            raise AcquisitionError(
                f"pool_features must be (N, D), got shape {self.pool_features.shape}"
            )
        if self.labeled_features is not None:
            self.labeled_features = np.asarray(self.labeled_features, dtype=np.float32)
            if len(self.labeled_features) != len(self.labeled_labels):
                raise AcquisitionError(
                    f"{len(self.labeled_features)} labeled feature rows but "
                    f"{len(self.labeled_labels)} labels"
                )
        for name in ("probabilities", "mc_probabilities"):
            value = getattr(self, name)
            if value is not None and value.shape[-2] != self.n_pool:
                raise AcquisitionError(f"{name} has {value.shape[-2]} rows, the pool {self.n_pool}")
        self.labeled_labels = [str(x) for x in self.labeled_labels]

    @property
    def n_pool(self) -> int:
        return int(self.pool_features.shape[0])

    @property
    def n_labeled(self) -> int:
        return 0 if self.labeled_features is None else int(len(self.labeled_features))

    def label_counts(self) -> Counter:
        return Counter(self.labeled_labels)

    def class_shares(self) -> dict[str, float]:
        """Each known class's estimated share of the project (labeled and pool together): labeled
        rows count by their label, pool rows by the model's probabilities where a column has the
        class's name. Labeled shares alone would drift as acquisition favours a class."""
        counts = {c: float(n) for c, n in self.label_counts().items()}
        for c in self.classes:
            counts.setdefault(str(c), 0.0)
        total = float(self.n_labeled)
        columns = list(self.probability_classes or self.classes)
        if self.probabilities is not None and len(columns) == self.probabilities.shape[-1]:
            mass = np.asarray(self.probabilities, dtype=np.float64).sum(axis=0)
            mass = mass / max(mass.sum(), 1e-12) * self.n_pool
            for name, m in zip(columns, mass, strict=True):
                if str(name) in counts:  # a model class that is no choice: not a class here
                    counts[str(name)] += float(m)
            total += self.n_pool
        return {c: n / total for c, n in counts.items()} if total else {}

    def note(self, message: str) -> None:
        """Record (and log) a fallback or warning the user should see."""
        log.warning("acquisition: %s", message)
        self.notes.append(message)

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([int(self.seed) & 0xFFFFFFFF, salt])


class Strategy:
    """Base class: ``score(context)`` -> (N,) float array, higher = label sooner."""

    name = "base"
    #: True: the scores already are a complete order with its own batch diversity (callers do
    #: not re-diversify the first positions; see :func:`~model_zoo.acquisition.diversity.rank_pool`)
    ordered = False
    #: context fields the strategy reads ("probabilities", "mc_probabilities", "labeled")
    needs: frozenset[str] = frozenset()

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        raise NotImplementedError

    def fallback(self, ctx: AcquisitionContext) -> Strategy | None:
        """The strategy used when this one's inputs are missing (None: raise)."""
        return None

    def missing(self, ctx: AcquisitionContext) -> list[str]:
        out = []
        if "probabilities" in self.needs and ctx.probabilities is None:
            out.append("class probabilities")
        if "mc_probabilities" in self.needs and ctx.mc_probabilities is None:
            out.append("MC-dropout probabilities")
        if "labeled" in self.needs and ctx.n_labeled == 0:
            out.append("labeled samples")
        return out

    def score(self, ctx: AcquisitionContext) -> np.ndarray:
        if ctx.n_pool == 0:
            return np.zeros(0, dtype=np.float64)
        missing = self.missing(ctx)
        if missing:
            other = self.fallback(ctx)
            if other is None:
                raise AcquisitionError(f"strategy {self.name!r} needs {', '.join(missing)}")
            ctx.note(f"{self.name}: no {', '.join(missing)}; using {other.name} instead")
            return other.score(ctx)
        scores = np.asarray(self.compute_score(ctx), dtype=np.float64).reshape(-1)
        if scores.shape[0] != ctx.n_pool:
            raise AssertionError(f"{self.name} returned {scores.shape[0]} scores for {ctx.n_pool}")
        return np.nan_to_num(scores, nan=-np.inf)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def reads_mc_samples(strategy: Strategy) -> bool:
    """Whether ``strategy`` reads MC-dropout samples (BALD alone, combined or inside a split):
    callers compute them only then (T head passes over the pool)."""
    return "bald" in strategy.name or getattr(strategy, "other", "") == "bald"


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy (nats) of probability vectors along ``axis``."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=axis)


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to their rank in (0, 1]: comparable across strategies, ties share a rank."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = np.arange(1, scores.size + 1)
    # ties: average rank, so equal scores stay equal after normalisation
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    if counts.max() > 1:
        sums = np.bincount(inverse, weights=ranks)
        ranks = sums[inverse] / counts[inverse]
    return ranks / scores.size
