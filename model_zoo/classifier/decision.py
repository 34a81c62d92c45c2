"""Which classes an image shows, from a classifier's probabilities: one rule for every consumer.

The ``<Choices>`` pre-label, the classes whose masks are drawn and the queue all ask the same
question, and answer it with :class:`ClassDecision`:

- only **learned** classes count: a class without a labeled example in the version's training
  set is never present (its head row learned nothing);
- a **single-label** model (softmax: every training image had one class) names its most probable
  learned class;
- a **multi-label** model (sigmoids) names every learned class at or above its own threshold;
  the thresholds were fitted on the round's validation split (:func:`fit_thresholds`), else
  ``default_threshold``;
- an **exclusive** class ("No defect") never appears beside another: it stands alone when it is
  the most probable of those named, and is dropped otherwise.

A version records what its decision needs in its metadata (:func:`decision_record`); a model
that was never trained for its classes has no decision at all (:func:`untrained_reason`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_zoo.classifier.model import canonical_class_name

#: the class names (canonical) that exclude every other class by default
DEFAULT_EXCLUSIVE = ("no_defect",)
#: bounds of a fitted threshold: a handful of validation images must not push it to an extreme
THRESHOLD_BOUNDS = (0.2, 0.8)
RECORD_KEY = "decision"


@dataclass(frozen=True)
class ClassDecision:
    multi_label: bool
    known: tuple[bool, ...]  # per class: learned from at least one labeled example
    thresholds: tuple[float, ...]  # per class (multi-label models)
    exclusive: frozenset[int] = frozenset()

    def present(self, probs: np.ndarray, keep_best: bool = False) -> list[list[int]]:
        """For each row of ``probs`` (images x classes), the class indices it shows, most
        probable first. ``keep_best``: a row that names nothing still gets its best learned
        class (a queue round needs an answer for every task)."""
        probs = np.asarray(probs, dtype=np.float64)
        known = np.asarray(self.known, dtype=bool)
        if not known.any():
            return [[] for _ in range(len(probs))]
        out = []
        for row in probs:
            masked = np.where(known, row, -np.inf)
            order = [int(c) for c in np.argsort(-masked) if known[c]]
            if self.multi_label:
                chosen = [c for c in order if row[c] >= self.thresholds[c]]
            else:
                chosen = order[:1]
            chosen = self._exclusive(chosen)
            if not chosen and keep_best:
                chosen = order[:1]
            out.append(chosen)
        return out

    def _exclusive(self, chosen: list[int]) -> list[int]:
        if not chosen or not self.exclusive:
            return chosen
        if chosen[0] in self.exclusive:
            return chosen[:1]
        return [c for c in chosen if c not in self.exclusive]


def exclusive_indices(classes: Sequence[str], names: Iterable[str]) -> frozenset[int]:
    """Indices of ``classes`` whose canonical name is one of ``names``."""
    wanted = {canonical_class_name(n) for n in names if str(n).strip()}
    return frozenset(i for i, c in enumerate(classes) if canonical_class_name(c) in wanted)


def decision_for(
    classes: Sequence[str],
    meta: dict[str, Any],
    *,
    multi_label: bool,
    exclusive: Iterable[str] = DEFAULT_EXCLUSIVE,
    default_threshold: float = 0.5,
    threshold_override: float | None = None,
) -> ClassDecision:
    """The decision of a trained version from its metadata (``meta[RECORD_KEY]``).

    A version written before decisions were recorded counts every class as learned.
    ``threshold_override`` (a label config's ``model_score_threshold``) replaces every fitted
    threshold."""
    record = meta.get(RECORD_KEY) or {}
    learned = record.get("learned_classes")
    learned_set = set(classes) if learned is None else set(learned)
    fitted = record.get("thresholds") or {}
    thresholds = tuple(
        float(threshold_override)
        if threshold_override is not None
        else float(fitted.get(c, default_threshold))
        for c in classes
    )
    return ClassDecision(
        multi_label=multi_label,
        known=tuple(c in learned_set for c in classes),
        thresholds=thresholds,
        exclusive=exclusive_indices(classes, exclusive),
    )


def _best_f1_threshold(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """The threshold on ``scores`` with the best F1 for ``truth`` (None: no positive)."""
    if not truth.any():
        return None
    best, best_f1 = None, -1.0
    for candidate in np.unique(scores):
        predicted = scores >= candidate
        tp = float((predicted & truth).sum())
        f1 = 2 * tp / (predicted.sum() + truth.sum())
        if f1 > best_f1:
            best, best_f1 = float(candidate), f1
    return best


def fit_thresholds(
    probs: np.ndarray,
    targets: np.ndarray,
    classes: Sequence[str],
    bounds: tuple[float, float] = THRESHOLD_BOUNDS,
) -> dict[str, float]:
    """Per class, the probability threshold with the best F1 on a validation split.

    ``targets``: multi-hot (images x classes). The F1-optimal cut is the lowest positive score
    that keeps the best F1; it is moved halfway towards the highest negative score below it (a
    margin rather than the edge) and clipped to ``bounds``. Classes without a positive in the
    split are left out (the caller's default applies)."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets).astype(bool)
    out: dict[str, float] = {}
    for index, name in enumerate(classes):
        scores, truth = probs[:, index], targets[:, index]
        cut = _best_f1_threshold(scores, truth)
        if cut is None:
            continue
        below = scores[(scores < cut) & ~truth]
        if below.size:
            cut = (cut + float(below.max())) / 2
        out[name] = float(np.clip(cut, *bounds))
    return out


def decision_record(
    classes: Sequence[str], counts: Sequence[int], thresholds: dict[str, float] | None = None
) -> dict[str, Any]:
    """What a trained version stores for its decision: the classes it learned (at least one
    labeled example) and the fitted thresholds."""
    return {
        "learned_classes": [c for c, n in zip(classes, counts, strict=True) if n > 0],
        "thresholds": dict(thresholds or {}),
    }


def untrained_reason(head_trained: bool, name: str) -> str | None:
    """Why a model's outputs must not be served (None: they may)."""
    if head_trained:
        return None
    return (
        f"{name} has no head trained for these labels: its outputs would be random, so nothing "
        "is pre-labeled until the first training round"
    )
