"""The linear probe of the fine-tuning recipe: the head fitted on frozen pooled features.

Called by :func:`~model_zoo.classifier.training.fine_tune` before the fine-tuning epochs (LP-FT:
a probe fitted to convergence is the best start for few labels). With the unlabeled pool's
features it is self-trained (:mod:`model_zoo.classifier.semi_supervised`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from model_zoo.classifier.augment import augment_batch
from model_zoo.classifier.model import ImageClassifier
from model_zoo.classifier.parts import head_module
from model_zoo.classifier.semi_supervised import SelfTraining
from model_zoo.classifier.unlabeled import ProbeSet, self_training_rounds
from model_zoo.schedules import cosine_schedule


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: float):
    """Linear warm-up over ``warmup`` (a share) of ``steps``, then a cosine decay to zero."""
    warm = max(1, round(steps * warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_schedule(steps, warm))


def _probe_set(classifier: ImageClassifier, x_train, y_train, config, generator) -> ProbeSet:
    """The frozen backbone's pooled features of the training images and of ``probe_views``
    augmented copies (the backbone runs once per view), their targets, weight 1."""
    views = [x_train] + [
        augment_batch(x_train, generator) for _ in range(max(0, config.probe_views))
    ]
    features = torch.cat(
        [
            classifier.features(view[start : start + 64])
            for view in views
            for start in range(0, len(view), 64)
        ]
    )
    targets = torch.cat([y_train] * len(views))
    return ProbeSet(features, targets, torch.ones(len(targets)))


def _weighted_loss(loss_fn, logits, targets, weights) -> torch.Tensor:
    """``loss_fn`` with per-row weights (class-weighted cross-entropy; BCE ignores them)."""
    if not isinstance(loss_fn, nn.CrossEntropyLoss):
        return loss_fn(logits, targets)
    losses = nn.functional.cross_entropy(logits, targets, weight=loss_fn.weight, reduction="none")
    norm = weights * (loss_fn.weight[targets] if loss_fn.weight is not None else 1.0)
    return (losses * weights).sum() / norm.sum().clamp(min=1e-8)


def _fit_probe(classifier: ImageClassifier, probe: ProbeSet, loss_fn, config) -> None:
    """Fit the head alone, full batch, on ``probe`` (the backbone frozen)."""
    head = head_module(classifier.model)
    for p in classifier.model.parameters():
        p.requires_grad = False
    params = list(head.parameters())
    for p in params:
        p.requires_grad = True
    optimizer = torch.optim.AdamW(params, lr=config.lr * 5, weight_decay=config.weight_decay)
    schedule = warmup_cosine(optimizer, config.probe_steps, config.warmup)
    device = next(iter(params)).device
    x, y, w = (t.to(device) for t in (probe.features, probe.targets, probe.weights))
    with classifier._lock:
        head.train()
        for _ in range(config.probe_steps):
            loss = _weighted_loss(loss_fn, head(x), y, w)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        head.eval()


def probe_head(
    classifier: ImageClassifier, x_train, y_train, loss_fn, config, generator, pool=None
) -> dict[str, Any]:
    """The linear probe: the head fitted on the frozen backbone's pooled features of the
    training images (and augmented copies); with ``pool`` (unlabeled images' features) and
    ``config.self_training``, refitted with the pool's confident pseudo-labels
    (:func:`~model_zoo.classifier.unlabeled.self_training_rounds`). Returns what
    self-training did."""
    probe = _probe_set(classifier, x_train, y_train, config, generator)
    _fit_probe(classifier, probe, loss_fn, config)
    if pool is None or not config.self_training or classifier.multi_label:
        return {}

    def probabilities(features: np.ndarray) -> np.ndarray:
        return classifier.probabilities(classifier.head_logits(torch.as_tensor(features)))

    report = self_training_rounds(
        probabilities,
        lambda extended: _fit_probe(classifier, extended, loss_fn, config),
        probe,
        pool,
        SelfTraining(),
    )
    return report.as_dict()
