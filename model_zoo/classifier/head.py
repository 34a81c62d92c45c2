"""The classifier's head trained on cached backbone features (the backbone frozen).

This is the part of the backend's classifier that a round's fast version trains (the linear
probe of :func:`model_zoo.classifier.training.probe_head`), on the same pooled features
(:meth:`ImageClassifier.embed`) the queue round scores. ``simulate-al`` uses it so that its
figures measure the production path: the same head module, the same probabilities (softmax or
sigmoid) and the same MC dropout of :mod:`model_zoo.acquisition.bald`; :func:`fit_head` fits it
with the probe's recipe (class-weighted loss, AdamW, warm-up and cosine, ``probe_steps`` full
batch steps), on the cached features of the images as they are (the backend adds
``probe_views`` augmented copies).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from model_zoo.acquisition.bald import DEFAULT_DROPOUT, dropout_rate, mc_dropout_probabilities
from model_zoo.classifier.parts import head_module
from model_zoo.classifier.training import TrainConfig, warmup_cosine
from model_zoo.classifier.training import _loss as class_weighted_loss


@dataclass
class FeatureHead:
    module: nn.Module
    multi_label: bool = False
    dropout: float = DEFAULT_DROPOUT

    @torch.no_grad()
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        self.module.eval()
        return self.module(features.float())

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = self.logits(torch.as_tensor(np.asarray(features, dtype=np.float32)))
        return (torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)).numpy()

    def mc_probabilities(self, features: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
        """(T, N, C): what BALD scores, exactly as the queue round computes it."""
        return mc_dropout_probabilities(
            self.logits,
            features,
            samples=samples,
            rate=self.dropout,
            multi_label=self.multi_label,
            seed=seed,
        )


def classifier_head(classifier) -> FeatureHead:
    """An untrained copy of ``classifier``'s head (weights reset), its dropout and label mode."""
    module = copy.deepcopy(head_module(classifier.model)).cpu()
    for layer in module.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return FeatureHead(
        module,
        multi_label=classifier.multi_label,
        dropout=dropout_rate(classifier.model.config),
    )


def linear_head(dim: int, classes: int) -> FeatureHead:
    """The head of the zoo's ViT classifiers (one linear layer) for features of width ``dim``."""
    return FeatureHead(nn.Linear(dim, classes))


def fit_head(
    template: FeatureHead,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    config: TrainConfig | None = None,
) -> FeatureHead:
    """A copy of ``template`` fitted as the backend's linear probe fits a round's fast version:
    the class-weighted loss of :mod:`model_zoo.classifier.training`, AdamW at ``5 x lr``, warm-up
    and cosine over ``probe_steps`` full-batch steps."""
    config = config or TrainConfig(epochs=0)
    head = copy.deepcopy(template)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in head.module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        n_classes = _out_features(head.module, x)
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        targets = nn.functional.one_hot(y, n_classes).float() if head.multi_label else y
        loss_fn = class_weighted_loss(targets, n_classes, head.multi_label, "cpu")
        params = list(head.module.parameters())
        optimizer = torch.optim.AdamW(params, lr=config.lr * 5, weight_decay=config.weight_decay)
        schedule = warmup_cosine(optimizer, config.probe_steps, config.warmup)
        head.module.train()
        for _ in range(config.probe_steps):
            loss = loss_fn(head.module(x), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        head.module.eval()
    return head


def _out_features(module: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(module.eval()(x[:1]).shape[-1])
