"""Semi-supervised learning on frozen backbone features: self-training with pseudo-labels.

A head fitted on the few labeled images' features predicts the unlabeled pool; the pool images
it is confident about (probability >= ``threshold``) join the training set with their predicted
class, at ``weight`` of a real label, and the head is fitted again (``rounds`` times). Pseudo-
labels are capped per class at ``max_ratio`` times the rarest predicted class's count so that
the majority class cannot swamp the minority. Everything runs on cached pooled features: a
1000-image pool costs milliseconds once its features are known.

Label propagation (scikit-learn's ``LabelSpreading`` on a k-nearest-neighbour graph) was tried
first and dropped: on real wall tiles the ImageNet features' neighbourhoods follow the wall's
texture and lighting more than the crack, and it lost 5-10 points against the labeled-only
head (docs/classifier.md).

:func:`fit_self_trained_head` is the entry point for a caller holding features (the backend's
first-round head); :func:`pseudo_labels` is the selection step alone (used by
:func:`model_zoo.classifier.training.fine_tune` for its probe).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class SelfTraining:
    rounds: int = 2
    threshold: float = 0.9  # a pseudo-label needs at least this probability
    weight: float = 0.5  # of a pseudo-labeled image, relative to a labeled one
    max_ratio: float = 3.0  # pseudo-labels per class <= this x the rarest class's count
    max_unlabeled: int = 5000  # a random subset of a larger pool is used
    min_unlabeled: int = 10  # a smaller pool: no self-training


@dataclass
class PseudoLabels:
    """Pseudo-labeled rows of the unlabeled pool: their positions, classes and confidences."""

    index: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def per_class(self, n_classes: int) -> list[int]:
        return np.bincount(self.labels, minlength=n_classes).astype(int).tolist()


@dataclass
class SelfTrainingReport:
    """What self-training did: pool size, pseudo-labels per class in the last round."""

    pool: int = 0
    used: int = 0
    rounds: int = 0
    pseudo_per_class: list[int] = field(default_factory=list)
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pseudo_labels(probabilities: np.ndarray, config: SelfTraining = SelfTraining()) -> PseudoLabels:
    """The confident rows of ``probabilities`` (N x C, single-label), class-capped, most
    confident first within each class."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or not len(probabilities):
        empty = np.zeros(0, dtype=np.int64)
        return PseudoLabels(empty, empty, np.zeros(0))
    predicted = probabilities.argmax(1)
    confidence = probabilities.max(1)
    confident = confidence >= config.threshold
    chosen = []
    counts = [int((confident & (predicted == c)).sum()) for c in range(probabilities.shape[1])]
    present = [n for n in counts if n > 0]
    cap = int(max(1, round(min(present) * config.max_ratio))) if present else 0
    for c in range(probabilities.shape[1]):
        rows = np.flatnonzero(confident & (predicted == c))
        chosen.append(rows[np.argsort(-confidence[rows], kind="stable")][:cap])
    index = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)
    return PseudoLabels(index, predicted[index].astype(np.int64), confidence[index])


def subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """Positions of at most ``limit`` of ``n`` rows (all of them, in order, when n <= limit)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def self_train(
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray], Any],
    predict: Callable[[Any, np.ndarray], np.ndarray],
    labeled: np.ndarray,
    labels: np.ndarray,
    unlabeled: np.ndarray,
    config: SelfTraining = SelfTraining(),
    seed: int = 0,
) -> tuple[Any, SelfTrainingReport]:
    """Generic self-training: ``fit(x, y, sample_weight) -> model``, ``predict(model, x) ->
    probabilities``. Returns the last model and a report; with too small a pool it is the
    labeled-only model."""
    labeled, labels = np.asarray(labeled, np.float32), np.asarray(labels, np.int64)
    unlabeled = np.asarray(unlabeled, np.float32).reshape(-1, labeled.shape[1])
    report = SelfTrainingReport(pool=len(unlabeled))
    model = fit(labeled, labels, np.ones(len(labels), np.float32))
    if len(unlabeled) < config.min_unlabeled:
        report.skipped = f"pool of {len(unlabeled)} < {config.min_unlabeled} images"
        return model, report
    pool = unlabeled[subsample(len(unlabeled), config.max_unlabeled, seed)]
    report.used = len(pool)
    for _ in range(max(0, config.rounds)):
        probabilities = predict(model, pool)
        chosen = pseudo_labels(probabilities, config)
        if not len(chosen):
            break
        x = np.concatenate([labeled, pool[chosen.index]])
        y = np.concatenate([labels, chosen.labels])
        w = np.concatenate([np.ones(len(labels)), np.full(len(chosen), config.weight)])
        model = fit(x, y, w.astype(np.float32))
        report.rounds += 1
        report.pseudo_per_class = chosen.per_class(probabilities.shape[1])
    return model, report


def weighted_cross_entropy(logits, targets, weights, class_weight=None) -> torch.Tensor:
    losses = nn.functional.cross_entropy(logits, targets, weight=class_weight, reduction="none")
    return (losses * weights).sum() / weights.sum().clamp(min=1e-8)


def fit_linear(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    steps: int = 200,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> nn.Module:
    """A copy of ``module`` (reset) fitted full-batch with AdamW on weighted, class-balanced
    cross-entropy (the square-root inverse class frequency of the fine-tuning recipe)."""
    head = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in head.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
        wt = torch.as_tensor(w, dtype=torch.float32)
        n_classes = int(head(xt[:1]).shape[1])
        counts = torch.zeros(n_classes).index_add_(0, yt, wt)
        balance = (counts.sum() / (counts.clamp(min=1e-8) * n_classes)).sqrt()
        balance = torch.where(counts > 0, balance, torch.zeros(()))
        optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        head.train()
        for _ in range(steps):
            optimizer.zero_grad()
            weighted_cross_entropy(head(xt), yt, wt, balance).backward()
            optimizer.step()
        head.eval()
    return head


def fit_self_trained_head(
    module: nn.Module,
    labeled: np.ndarray,
    labels: np.ndarray,
    unlabeled: np.ndarray,
    *,
    config: SelfTraining = SelfTraining(),
    seed: int = 0,
    steps: int = 200,
) -> tuple[nn.Module, SelfTrainingReport]:
    """A copy of the head ``module`` (e.g. ``head_module(classifier.model)`` or a
    :class:`~model_zoo.classifier.head.FeatureHead`'s module) fitted on the labeled features
    and the confident pseudo-labels of the unlabeled ones (single-label heads)."""

    def fit(x, y, w):
        return fit_linear(module, x, y, w, steps=steps, seed=seed)

    def predict(head, x):
        with torch.no_grad():
            return torch.softmax(head(torch.as_tensor(x, dtype=torch.float32)), -1).numpy()

    return self_train(fit, predict, labeled, labels, unlabeled, config, seed)
