"""Ranking the unlabeled tasks of a project for a queue round.

Labeled = has a usable annotation of the classifier's Choices tag, pool = every task that is not
labeled. Backbone features of all tasks come from the feature cache
(``$MODEL_DIR/features/<model version>``; only new tasks are embedded), class probabilities and
MC-dropout samples from the classifier head on those features. ``ACQUISITION_STRATEGY`` scores
the pool (higher = label sooner) and the first ``ACQUISITION_BATCH_DIVERSITY`` positions are made
diverse, giving a full order; each pool task gets the classifier's choice as its result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ml_backend.images.fetcher import ImageFetchError
from ml_backend.queue.history import context_history, stored_report
from ml_backend.queue.rounds import QueueRoundFailed
from ml_backend.training.annotations import build_training_set
from model_zoo.acquisition import AcquisitionContext, get_strategy, rank_pool
from model_zoo.acquisition.bald import dropout_rate, mc_dropout_probabilities
from model_zoo.acquisition.base import reads_mc_samples
from model_zoo.storage.feature_cache import FeatureCache, cached_embeddings

log = logging.getLogger(__name__)

MC_SAMPLES = 20


@dataclass
class Ranking:
    """The unlabeled tasks in the order to label them (ids, first = sooner), a Choices result
    for each, and how the order was made (only a ``note`` when there is nothing to order)."""

    ordered: list[int]
    results: dict[int, list[dict]]
    details: dict[str, Any]


@dataclass
class _Features:
    values: np.ndarray  # one row per task; NaN where its image could not be read
    failed: list[int]  # positions of the tasks whose image could not be read
    computed: int  # rows embedded now (the rest came from the cache)


def _features(state, classifier, tasks: list[dict], image_key: str) -> _Features:
    """Backbone features of ``tasks``, cached per model version."""
    cache = FeatureCache(state.settings.model_dir / "features")
    urls = [(t.get("data") or {}).get(image_key) for t in tasks]
    keys = [f"{t['id']}:{u}" for t, u in zip(tasks, urls, strict=True)]
    failed: list[int] = []

    def compute(positions: list[int]) -> np.ndarray:
        futures = [
            state.predictor._pool.submit(state.predictor._fetch, urls[i], int(tasks[i]["id"]))
            for i in positions
        ]
        images, ok = [], []
        for i, future in zip(positions, futures, strict=True):
            try:
                images.append(future.result())
                ok.append(i)
            except (ImageFetchError, OSError, ValueError) as exc:
                log.warning("task %s left out of the queue order: %s", tasks[i]["id"], exc)
                failed.append(i)
        feats = classifier.embed(images, batch_size=state.settings.predict_batch_size)
        width = feats.shape[1] if len(ok) else 1
        out = np.full((len(positions), width), np.nan, dtype=np.float32)  # NaN: retried next time
        where = {i: j for j, i in enumerate(positions)}
        for row, i in enumerate(ok):
            out[where[i]] = feats[row]
        return out

    features, computed = cached_embeddings(cache, classifier.version, keys, compute)
    if failed:
        log.warning("%d task image(s) could not be read", len(failed))
    log.info("features: %d of %d computed, the rest from the cache", computed, len(tasks))
    return _Features(features, failed, computed)


def _results(handler, classifier, probs: np.ndarray) -> list[list[dict]]:
    """A Choices result per row (the handler's scoring; the best choice when none reaches the
    threshold, since every task of the round needs a prediction). A classifier that was never
    trained for these labels orders the queue but names nothing: empty results."""
    if not handler.serves(classifier):
        return [[] for _ in range(len(probs))]
    if not handler.label_map(classifier.classes):
        raise QueueRoundFailed(
            f"no choice of <Choices name={handler.control.name!r}> matches a class of the model "
            f"({classifier.classes}); cannot build valid predictions"
        )
    regions = handler.choice_regions(probs, classifier, keep_best=True)
    return [[region.item for region in row] for row in regions]


def _mc_probabilities(classifier, pool_x: np.ndarray, strategy) -> np.ndarray | None:
    """MC-dropout samples of the head on ``pool_x``, for the strategies that read BALD only."""
    if not reads_mc_samples(strategy):
        return None
    return mc_dropout_probabilities(
        classifier.head_logits,
        pool_x,
        samples=MC_SAMPLES,
        rate=dropout_rate(classifier.model.config),
        multi_label=classifier.multi_label,
    )


def _context(
    state, handler, chosen, pool_x, labeled, minority, history
) -> tuple[AcquisitionContext, Any]:
    """What ``chosen`` scores from, and the classifier's probabilities on the pool."""
    settings, classifier = state.settings, handler.classifier
    probs = classifier.probabilities(classifier.head_logits(torch.as_tensor(pool_x)))
    ctx = AcquisitionContext(
        pool_features=pool_x,
        labeled_features=labeled[0],
        labeled_labels=labeled[1],
        probabilities=probs if classifier.head_trained else None,  # untrained head: noise
        mc_probabilities=_mc_probabilities(classifier, pool_x, chosen),
        classes=handler.labels,
        probability_classes=classifier.classes,
        minority=minority,
        minority_share=settings.minority_share,
        batch=settings.acquisition_batch_diversity,
        history=history,
    )
    return ctx, probs


def score_tasks(
    state,
    handler,
    tasks: list[dict],
    *,
    strategy: str,
    minority: tuple[str, ...],
    history: dict | None = None,
) -> Ranking:
    """Rank the unlabeled tasks of ``tasks`` for ``handler``'s classifier. ``history``: what the
    previous round stored (:mod:`ml_backend.queue.history`); the new one is ``details["history"]``."""
    settings = state.settings
    training = build_training_set(tasks, handler.control, handler.image_key)
    labeled_label = {e.task_id: e.labels[0] for e in training.examples}
    pool = [t for t in tasks if not t.get("is_labeled") and int(t["id"]) not in labeled_label]
    labeled = [t for t in tasks if int(t["id"]) in labeled_label]
    if not pool:
        return Ranking([], {}, {"note": "every task is labeled: nothing to order"})
    classifier = handler.classifier
    found = _features(state, classifier, pool + labeled, handler.image_key)
    features, bad = found.values, set(found.failed)
    keep_pool = [i for i in range(len(pool)) if i not in bad]
    keep_lab = [j for j in range(len(labeled)) if len(pool) + j not in bad]
    if not keep_pool:
        raise QueueRoundFailed("no image of an unlabeled task could be read; nothing to rank")
    pool_x = features[keep_pool]
    lab_x = features[[len(pool) + j for j in keep_lab]] if keep_lab else None
    lab_y = [labeled_label[int(labeled[j]["id"])] for j in keep_lab]
    chosen = get_strategy(strategy)
    ctx, probs = _context(
        state, handler, chosen, pool_x, (lab_x, lab_y), minority,
        context_history(history or {}, labeled_label),
    )  # fmt: skip
    diversity = settings.acquisition_batch_diversity
    scores, order = rank_pool(chosen, ctx, diversity=diversity)
    pool_ids = [int(pool[i]["id"]) for i in keep_pool]
    results = _results(handler, classifier, probs)
    ordered = [pool_ids[i] for i in order]
    by_id = {pool_ids[i]: results[i] for i in range(len(pool_ids))}
    details = {
        "strategy": chosen.name,
        "notes": ctx.notes,
        "pool": len(pool),
        "unreadable": len(found.failed),
        "features_computed": found.computed,
        "labeled": len(lab_y),
        "model_version": classifier.version,
        "top_score": float(scores[order[0]]),
        "history": stored_report(ctx.report, pool_ids),
    }
    return Ranking(ordered, by_id, details)
