"""The classifier's head trained on cached backbone features (the backbone frozen).

This is the part of the backend's classifier that ``TRAIN_BLOCKS=head`` trains, on the same
pooled features (:meth:`ImageClassifier.embed`) the queue round scores. ``simulate-al`` uses it
so that its figures measure the production path: the same head module, the same probabilities
(softmax or sigmoid) and the same MC dropout of :mod:`model_zoo.acquisition.bald`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from model_zoo.acquisition.bald import DEFAULT_DROPOUT, dropout_rate, mc_dropout_probabilities
from model_zoo.classifier.parts import head_module


@dataclass(frozen=True)
class HeadTraining:
    """Full-batch AdamW on the features (they fit in memory; a few hundred steps converge)."""

    epochs: int = 200
    lr: float = 1e-2
    weight_decay: float = 1e-4


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
    training: HeadTraining = HeadTraining(),
) -> FeatureHead:
    """A copy of ``template`` trained on ``features`` -> ``labels`` (class indices)."""
    head = copy.deepcopy(template)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in head.module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        optimizer = torch.optim.AdamW(
            head.module.parameters(), lr=training.lr, weight_decay=training.weight_decay
        )
        head.module.train()
        for _ in range(training.epochs):
            optimizer.zero_grad()
            logits = head.module(x)
            if head.multi_label:
                target = nn.functional.one_hot(y, logits.shape[1]).float()
                loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
            else:
                loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
        head.module.eval()
    return head
