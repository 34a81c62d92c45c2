"""The unlabeled pool of a training round: bounded, cached, and never a reason to fail."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ml_backend.training import unlabeled_pool as up
from model_zoo.storage.feature_cache import FeatureCache
from tests.images import random_image
from tests.ml_backend.conftest import make_settings


class FakeClassifier:
    version = "v-test"

    def __init__(self):
        self.embedded = 0

    def embed(self, images, batch_size=16):
        self.embedded += len(images)
        return np.stack([np.asarray(im, np.float32).mean((0, 1)) for im in images])


class FakePredictor:
    """Task images by URL: ``broken`` URLs fail like an unreachable or undecodable image."""

    def __init__(self, broken=(), slow=0.0):
        self.broken, self.slow, self.fetched = set(broken), slow, 0

    def fetch_images(self, jobs):
        import time

        time.sleep(self.slow)
        self.fetched += len(jobs)
        return [
            "connection refused" if url in self.broken else random_image(8, 8, seed=task)
            for url, task in jobs
        ]


def _state(tmp_path, predictor=None, **env):
    return SimpleNamespace(
        settings=make_settings(tmp_path, **env), predictor=predictor or FakePredictor()
    )


def _tasks(n: int, labeled: int = 0) -> list[dict]:
    return [
        {
            "id": i,
            "data": {"image": f"http://ls/{i}.png"},
            "is_labeled": i < labeled,
            "annotations": [{"result": []}] if i < labeled else [],
        }
        for i in range(n)
    ]


def test_the_pool_is_the_unlabeled_tasks_with_an_image(tmp_path):
    tasks = _tasks(10, labeled=3) + [{"id": 99, "data": {"image": ""}}, {"id": 98, "data": {}}]
    pool = up.read_pool(_state(tmp_path), FakeClassifier(), tasks, {3}, "image")
    assert pool.task_ids == list(range(4, 10)) and pool.features.shape == (6, 3)
    assert pool.candidates == 6 and pool.computed == 6 and not pool.skipped


def test_cached_features_are_reused_and_new_ones_cached(tmp_path):
    state, classifier = _state(tmp_path), FakeClassifier()
    first = up.read_pool(state, classifier, _tasks(20), set(), "image")
    again = up.read_pool(state, classifier, _tasks(20), set(), "image")
    assert first.computed == 20 and again.cached == 20 and again.computed == 0
    assert classifier.embedded == 20 and np.allclose(
        first.features, again.features, rtol=1e-3
    )  # float16 cache
    keys, _ = FeatureCache(state.settings.model_dir / "features").load("v-test")
    assert "5:http://ls/5.png" in keys  # the queue round's keys: "<task id>:<url>"


def test_broken_images_are_skipped_and_counted(tmp_path):
    broken = {f"http://ls/{i}.png" for i in (1, 4, 7)}
    state = _state(tmp_path, FakePredictor(broken=broken))
    pool = up.read_pool(state, FakeClassifier(), _tasks(10), set(), "image")
    assert len(pool.task_ids) == 7 and 4 not in pool.task_ids
    assert pool.skipped == {"image unreadable": 3}


def test_a_100000_task_project_is_bounded(tmp_path):
    state = _state(tmp_path, TRAIN_UNLABELED_MAX=50)
    pool = up.read_pool(state, FakeClassifier(), _tasks(100_000), set(), "image")
    assert len(pool.task_ids) == 50 and state.predictor.fetched == 50
    assert pool.skipped == {"beyond TRAIN_UNLABELED_MAX=50": 99_950}


def test_the_time_budget_stops_fetching(tmp_path):
    state = _state(tmp_path, FakePredictor(slow=0.05), TRAIN_UNLABELED_SECONDS=0.01)
    pool = up.read_pool(state, FakeClassifier(), _tasks(3 * up.CHUNK), set(), "image")
    assert len(pool.task_ids) == up.CHUNK  # the first chunk, then the clock
    assert pool.skipped == {"time budget spent": 2 * up.CHUNK}


@pytest.mark.parametrize("tasks", [[], _tasks(5, labeled=5)])
def test_an_empty_pool_is_empty_not_an_error(tmp_path, tasks):
    pool = up.read_pool(_state(tmp_path), FakeClassifier(), tasks, set(), "image")
    assert pool.task_ids == [] and pool.features is None and not pool.skipped


def test_an_unreachable_pool_gives_an_empty_pool_with_the_reason(tmp_path):
    class Down(FakePredictor):
        def fetch_images(self, jobs):
            raise ConnectionError("Label Studio is down")

    pool = up.read_pool(_state(tmp_path, Down()), FakeClassifier(), _tasks(5), set(), "image")
    assert pool.features is None and pool.skipped == {"pool unreadable: ConnectionError": 1}


def test_self_training_off_by_default_reads_nothing(tmp_path):
    state = _state(tmp_path)
    training_set = SimpleNamespace(examples=[])
    pool = up.round_pool(state, FakeClassifier(), _tasks(5), training_set, "image")
    assert pool.features is None and state.predictor.fetched == 0
