"""The unlabeled pool of a training round: the project's tasks nobody has labeled yet.

A round already reads every task of the project (for the annotations); the tasks without a
usable annotation of the classifier's Choices tag and with an image URL are the pool. At most
``TRAIN_UNLABELED_MAX`` of them are used (a seeded random subset, so a project of 100 000 tasks
costs the same as one of 1000). Their pooled backbone features come from the feature cache
(``$MODEL_DIR/features/<version>``, the keys the queue round writes: ``"<task id>:<url>"``), so
the pool of a project whose queue round ran costs no forward pass; the missing ones are fetched
and embedded in chunks until ``TRAIN_UNLABELED_SECONDS`` have passed. Unreadable images and
tasks left over when time ran out are skipped and counted, by reason.

Nothing here can fail a round: :func:`read_pool` catches everything and returns an empty pool
with the reason, and the round then trains on its labels alone.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_zoo.storage.feature_cache import FeatureCache

log = logging.getLogger(__name__)

CHUNK = 64  # images fetched and embedded between two looks at the clock


@dataclass
class Pool:
    """Features of the usable pool tasks (rows in ``task_ids`` order) and what was skipped."""

    task_ids: list[int] = field(default_factory=list)
    features: np.ndarray | None = None
    candidates: int = 0
    cached: int = 0
    computed: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "used": len(self.task_ids),
            "from_cache": self.cached,
            "embedded": self.computed,
            "skipped": dict(self.skipped),
            "seconds": round(self.seconds, 2),
        }


def pool_tasks(tasks: list[dict], labeled_ids: set[int], image_key: str) -> list[dict]:
    """The tasks with no usable label for the classifier and a non-empty image URL."""
    out = []
    for task in tasks:
        url = (task.get("data") or {}).get(image_key)
        if int(task.get("id", -1)) in labeled_ids or task.get("is_labeled"):
            continue
        if isinstance(url, str) and url.strip():
            out.append(task)
    return out


def choose(tasks: list[dict], limit: int, seed: int) -> list[dict]:
    """At most ``limit`` of ``tasks``, a seeded random subset in task order."""
    if len(tasks) <= limit:
        return list(tasks)
    picked = sorted(random.Random(seed).sample(range(len(tasks)), limit))
    return [tasks[i] for i in picked]


def _key(task: dict, image_key: str) -> str:
    return f"{task['id']}:{(task.get('data') or {}).get(image_key)}"


def _embed_missing(state, classifier, tasks: list[dict], image_key: str, pool: Pool, deadline):
    """Fetch and embed ``tasks`` chunk by chunk until ``deadline``; returns {position: row}."""
    rows: dict[int, np.ndarray] = {}
    batch = state.settings.predict_batch_size
    for start in range(0, len(tasks), CHUNK):
        if time.monotonic() > deadline:
            pool.skipped["time budget spent"] += len(tasks) - start
            break
        chunk = tasks[start : start + CHUNK]
        got = state.predictor.fetch_images(
            [((t.get("data") or {}).get(image_key), int(t["id"])) for t in chunk]
        )
        images, where = [], []
        for offset, item in enumerate(got):
            if isinstance(item, str):
                pool.skipped["image unreadable"] += 1
                log.debug("pool task %s skipped: %s", chunk[offset]["id"], item)
            else:
                images.append(item)
                where.append(start + offset)
        if images:
            features = classifier.embed(images, batch_size=batch)
            rows.update({pos: features[i] for i, pos in enumerate(where)})
    return rows


def _collect(state, classifier, tasks: list[dict], image_key: str, pool: Pool) -> None:
    """Cached features first, then the missing ones (cached in turn)."""
    settings = state.settings
    cache = FeatureCache(settings.model_dir / "features")
    keys = [_key(t, image_key) for t in tasks]
    found, cached = cache.get(classifier.version, keys)
    missing = [i for i in range(len(tasks)) if not found[i]]
    deadline = time.monotonic() + float(settings.train_unlabeled_seconds)
    fresh = _embed_missing(
        state, classifier, [tasks[i] for i in missing], image_key, pool, deadline
    )
    rows = {i: cached[i] for i in range(len(tasks)) if found[i]}
    rows.update({missing[pos]: row for pos, row in fresh.items()})
    if fresh:
        order = sorted(fresh)
        cache.put(
            classifier.version,
            [keys[missing[pos]] for pos in order],
            np.stack([fresh[pos] for pos in order]),
        )
    kept = sorted(rows)
    pool.cached, pool.computed = int(found.sum()), len(fresh)
    pool.task_ids = [int(tasks[i]["id"]) for i in kept]
    pool.features = np.stack([rows[i] for i in kept]).astype(np.float32) if kept else None


def read_pool(
    state, classifier, tasks: list[dict], labeled_ids: set[int], image_key: str, seed: int = 0
) -> Pool:
    """The round's unlabeled pool (see the module doc); never raises."""
    started = time.monotonic()
    pool = Pool()
    try:
        limit = int(state.settings.train_unlabeled_max)
        candidates = pool_tasks(tasks, labeled_ids, image_key)
        pool.candidates = len(candidates)
        chosen = choose(candidates, limit, seed)
        if len(candidates) > len(chosen):
            pool.skipped[f"beyond TRAIN_UNLABELED_MAX={limit}"] = len(candidates) - len(chosen)
        if chosen:
            _collect(state, classifier, chosen, image_key, pool)
    except Exception as exc:  # noqa: BLE001 - the pool must never fail a round
        log.exception("reading the unlabeled pool failed; training on the labels alone")
        pool.task_ids, pool.features = [], None
        pool.skipped[f"pool unreadable: {type(exc).__name__}"] += 1
    pool.seconds = time.monotonic() - started
    if pool.skipped:
        log.info("unlabeled pool: %s", pool.summary())
    return pool


def round_pool(state, classifier, tasks: list[dict], training_set, image_key: str) -> Pool:
    """The pool a round self-trains on: empty when ``TRAIN_SELF_TRAINING`` is off."""
    if not state.settings.train_self_training:
        return Pool()
    labeled = {int(e.task_id) for e in training_set.examples}
    return read_pool(state, classifier, tasks, labeled, image_key, seed=len(labeled))
