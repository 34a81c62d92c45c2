"""The classifier part of a training round: a fast version in seconds, a full one when it pays.

**Fast**: a linear probe (the head alone, fitted on the frozen backbone's pooled features of the
labeled images and augmented copies of them; :func:`model_zoo.classifier.training.fine_tune`
with ``epochs=0``). It is first fitted on the training part and scored on the hold-out split
(its metrics and, for a multi-label model, the per-class thresholds come from there), then
refitted on every labeled image: that refit is what serves.

**Full** (from ``FINETUNE_MIN_LABELS`` labels on): the probe, then the top blocks fine-tuned, the
best epoch kept on the same hold-out split. It replaces the fast head only if an epoch after the
probe scored better on the hold-out split than the fast head did (the probe's own epoch is the
fast head fitted on fewer images).

Both record what :mod:`model_zoo.classifier.decision` needs: the classes with a labeled example
(the others are never predicted) and the fitted thresholds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_zoo.classifier.decision import decision_record, fit_thresholds
from model_zoo.classifier.model import ImageClassifier
from model_zoo.classifier.training import TrainConfig, TrainResult, fine_tune

log = logging.getLogger(__name__)


@dataclass
class RoundData:
    """A round's images as ``(image, target)`` pairs: the training part and the hold-out."""

    train: list[tuple[Any, Any]]
    val: list[tuple[Any, Any]]
    classes: list[str]
    multi_label: bool

    def class_counts(self) -> list[int]:
        counts = [0] * len(self.classes)
        for _image, target in self.train + self.val:
            for index in [target] if isinstance(target, int) else target:
                counts[int(index)] += 1
        return counts


@dataclass
class ClassifierVersion:
    """A trained classifier ready to store: its hold-out metrics and decision record."""

    classifier: ImageClassifier
    stage: str  # "fast" or "full"
    metrics: dict[str, Any]
    decision: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    def score(self) -> float:
        """Hold-out macro-F1 (accuracy breaks ties); -inf without a hold-out split."""
        f1 = self.metrics.get("macro_f1")
        if f1 is None or np.isnan(f1):
            return -np.inf
        return float(f1) + 1e-3 * float(self.metrics.get("accuracy", 0.0))

    def meta(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "metrics": self.metrics,
            "history": self.history,
            "decision": self.decision,
            "train_seconds": round(self.seconds, 2),
            **({"stage_note": self.note} if self.note else {}),
        }


def _multi_hot(targets: Sequence[Any], n_classes: int) -> np.ndarray:
    out = np.zeros((len(targets), n_classes), dtype=bool)
    for row, target in enumerate(targets):
        for index in [target] if isinstance(target, int) else target:
            out[row, int(index)] = True
    return out


def _thresholds(classifier: ImageClassifier, data: RoundData) -> dict[str, float]:
    """Per-class thresholds of a multi-label model, fitted on the hold-out split."""
    if not data.multi_label or not data.val:
        return {}
    probs = classifier.predict_proba([image for image, _ in data.val])
    return fit_thresholds(
        probs, _multi_hot([t for _, t in data.val], len(data.classes)), data.classes
    )


def _config(input_size: int | None, epochs: int = 0, **extra) -> TrainConfig:
    return TrainConfig(epochs=epochs, input_size=input_size, progress=False, **extra)


def fast_version(
    make_classifier: Callable[[], ImageClassifier], data: RoundData, input_size: int | None
) -> ClassifierVersion:
    """The probe scored on the hold-out split, then refitted on every labeled image."""
    started = time.perf_counter()
    scored = make_classifier()
    result = fine_tune(scored, data.train, data.val, _config(input_size))
    thresholds = _thresholds(scored, data)
    served = scored
    if data.val:
        served = make_classifier()
        fine_tune(served, data.train + data.val, (), _config(input_size))
    decision = decision_record(data.classes, data.class_counts(), thresholds)
    seconds = time.perf_counter() - started
    log.info(
        "fast version: linear head on %d images in %.1fs (hold-out accuracy %s on %d)",
        len(data.train) + len(data.val),
        seconds,
        result.metrics.get("accuracy"),
        len(data.val),
    )
    return ClassifierVersion(served, "fast", result.metrics, decision, result.history, seconds)


def full_version(
    make_classifier: Callable[[], ImageClassifier],
    data: RoundData,
    config: TrainConfig,
    fast: ClassifierVersion,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> tuple[ClassifierVersion | None, str]:
    """The fine-tuned classifier, or None when it did not beat ``fast``; and why."""
    started = time.perf_counter()
    classifier = make_classifier()
    result: TrainResult = fine_tune(classifier, data.train, data.val, config, on_epoch=on_epoch)
    full = ClassifierVersion(
        classifier,
        "full",
        result.metrics,
        decision_record(data.classes, data.class_counts(), _thresholds(classifier, data)),
        result.history,
        time.perf_counter() - started,
    )
    if result.best_epoch == 0 or full.score() <= fast.score():
        why = (
            f"fine-tuning did not beat the fast head on {len(data.val)} held-out images "
            f"(best epoch {result.best_epoch}; macro-F1 {full.metrics.get('macro_f1')} vs "
            f"{fast.metrics.get('macro_f1')}): the fast head keeps serving"
        )
        log.info(why)
        return None, why
    why = (
        f"fine-tuned (best epoch {result.best_epoch}) beats the fast head on {len(data.val)} "
        f"held-out images: macro-F1 {full.metrics.get('macro_f1')} vs {fast.metrics.get('macro_f1')}"
    )
    log.info(why)
    full.note = why
    return full, why
