"""What :func:`~model_zoo.classifier.training.fine_tune` does with unlabeled images.

Two steps, both before the fine-tuning epochs and both cheap next to them:

1. **AdaBN** (:mod:`model_zoo.classifier.adabn`, ``TrainConfig.adabn``): the backbone's
   BatchNorm statistics re-estimated on (at most 512 of) the unlabeled images.
2. **Self-training of the probe** (:mod:`model_zoo.classifier.semi_supervised`,
   ``TrainConfig.self_training``): the linear probe, fitted on the labeled images, labels the
   pool's pooled features; the confident ones join the probe's training set at half weight
   and the probe is fitted again. The fine-tuning epochs then start from that head.

The pool is subsampled to ``TrainConfig.unlabeled_max`` images (one forward pass each).
Nothing here can fail a training run: an empty or tiny pool, or a multi-label classifier
(no single pseudo-label), only skips the step and says so in the run's metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from model_zoo.classifier.adabn import AdaBN, adapt_batchnorm
from model_zoo.classifier.semi_supervised import (
    SelfTraining,
    SelfTrainingReport,
    pseudo_labels,
    subsample,
)

log = logging.getLogger(__name__)


@dataclass
class UnlabeledUse:
    """What a run did with its unlabeled images (recorded in its metrics)."""

    pool: int = 0
    adabn_images: int = 0
    self_training: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unlabeled_pool": self.pool,
            "adabn_images": self.adabn_images,
            "self_training": self.self_training,
        }


@dataclass
class UnlabeledPool:
    """The unlabeled images given to a run and, optionally, their features computed before
    (rows in the same order; a caller may give features alone)."""

    images: list[Image.Image]
    features: np.ndarray | None = None

    @property
    def size(self) -> int:
        return (
            len(self.images)
            if self.images
            else len(self.features if self.features is not None else [])
        )

    def features_for(self, classifier, sampled: list[Image.Image], adapted: bool, config):
        """Features for self-training: the given ones (subsampled like the images) unless
        AdaBN changed the backbone, else a forward pass over ``sampled``; None if neither."""
        given = self.features
        if given is not None and len(given) and not adapted:
            return np.asarray(given, np.float32)[
                subsample(len(given), config.unlabeled_max, config.seed)
            ]
        return pool_features(classifier, sampled) if sampled else None


def sample_pool(images: Sequence[Image.Image], limit: int, seed: int) -> list[Image.Image]:
    return [images[int(i)] for i in subsample(len(images), max(0, limit), seed)]


def adapt(classifier, pool: Sequence[Image.Image], enabled: bool, seed: int) -> int:
    """AdaBN on ``pool`` when ``enabled``; the number of images used (0: skipped)."""
    if not enabled or not pool:
        return 0
    try:
        return adapt_batchnorm(classifier, pool, AdaBN(), seed=seed)
    except Exception:  # noqa: BLE001 - semi-supervision must never fail a run
        log.exception("AdaBN failed; the ImageNet statistics stay")
        return 0


def pool_features(classifier, pool: Sequence[Image.Image], batch: int = 32) -> np.ndarray:
    """Pooled backbone features of the pool images (what the head reads), float32."""
    return classifier.embed(list(pool), batch_size=batch).astype(np.float32)


@dataclass
class ProbeSet:
    """The probe's training rows: features, targets and per-row weights."""

    features: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor

    def extended(self, features: np.ndarray, targets: np.ndarray, weight: float) -> ProbeSet:
        extra = torch.as_tensor(features, dtype=self.features.dtype)
        return ProbeSet(
            torch.cat([self.features, extra]),
            torch.cat([self.targets, torch.as_tensor(targets, dtype=self.targets.dtype)]),
            torch.cat([self.weights, torch.full((len(extra),), float(weight))]),
        )


def self_training_rounds(
    head_probabilities, refit, probe: ProbeSet, pool: np.ndarray, config: SelfTraining
) -> SelfTrainingReport:
    """Pseudo-label ``pool`` with the current head, refit on ``probe`` + them; ``rounds``
    times. ``head_probabilities(features) -> N x C``; ``refit(ProbeSet)`` fits the head."""
    report = SelfTrainingReport(pool=len(pool), used=len(pool))
    if len(pool) < config.min_unlabeled:
        report.skipped = f"pool of {len(pool)} < {config.min_unlabeled} images"
        return report
    for _ in range(max(0, config.rounds)):
        probabilities = head_probabilities(pool)
        chosen = pseudo_labels(probabilities, config)
        if not len(chosen):
            report.skipped = report.skipped or "no confident pseudo-label"
            break
        refit(probe.extended(pool[chosen.index], chosen.labels, config.weight))
        report.rounds += 1
        report.pseudo_per_class = chosen.per_class(probabilities.shape[1])
    return report
