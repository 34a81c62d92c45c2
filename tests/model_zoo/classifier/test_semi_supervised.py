"""Self-training on frozen features: confident pseudo-labels, class caps, never a failure."""

from __future__ import annotations

import numpy as np
import torch

from model_zoo.classifier.semi_supervised import (
    SelfTraining,
    fit_self_trained_head,
    pseudo_labels,
)


def _blobs(n: int, seed: int, shift: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x[:, 0] += np.where(y == 1, shift, -shift)
    return x, y


def test_pseudo_labels_keep_confident_rows_most_confident_first():
    probs = np.array([[0.99, 0.01], [0.6, 0.4], [0.05, 0.95], [0.93, 0.07], [0.2, 0.8]])
    chosen = pseudo_labels(probs, SelfTraining(threshold=0.9, max_ratio=10))
    assert chosen.index.tolist() == [0, 3, 2]
    assert chosen.labels.tolist() == [0, 0, 1]
    assert chosen.per_class(2) == [2, 1]


def test_the_majority_class_is_capped_by_the_rarest():
    probs = np.array([[0.99, 0.01]] * 20 + [[0.02, 0.98]] * 2)
    chosen = pseudo_labels(probs, SelfTraining(threshold=0.9, max_ratio=3))
    assert chosen.per_class(2) == [6, 2]


def test_nothing_confident_and_empty_input_give_no_pseudo_label():
    assert len(pseudo_labels(np.full((5, 2), 0.5))) == 0
    assert len(pseudo_labels(np.zeros((0, 2)))) == 0


def _accuracy(head, x, y) -> float:
    with torch.no_grad():
        return float((head(torch.as_tensor(x)).argmax(1).numpy() == y).mean())


def test_self_training_uses_the_pool_and_beats_the_labeled_only_head():
    gains = []
    for seed in range(4):
        labeled, labels = _blobs(4, seed=seed)
        pool, _ = _blobs(200, seed=100 + seed)
        test, truth = _blobs(400, seed=200 + seed)
        alone, _ = fit_self_trained_head(
            torch.nn.Linear(8, 2), labeled, labels, pool, config=SelfTraining(rounds=0)
        )
        head, report = fit_self_trained_head(
            torch.nn.Linear(8, 2), labeled, labels, pool, config=SelfTraining(threshold=0.8)
        )
        assert report.rounds >= 1 and sum(report.pseudo_per_class) > 0 and not report.skipped
        gains.append(_accuracy(head, test, truth) - _accuracy(alone, test, truth))
    assert np.mean(gains) > 0.01


def test_a_tiny_or_empty_pool_is_skipped_not_failed():
    labeled, labels = _blobs(4, seed=0)
    for pool in (np.zeros((0, 8), np.float32), _blobs(3, seed=5)[0]):
        head, report = fit_self_trained_head(torch.nn.Linear(8, 2), labeled, labels, pool)
        assert report.rounds == 0 and "pool of" in report.skipped
        assert head(torch.zeros(1, 8)).shape == (1, 2)


def test_a_large_pool_is_subsampled():
    labeled, labels = _blobs(4, seed=0)
    pool, _ = _blobs(300, seed=1)
    _, report = fit_self_trained_head(
        torch.nn.Linear(8, 2), labeled, labels, pool, config=SelfTraining(max_unlabeled=50)
    )
    assert report.pool == 300 and report.used == 50
