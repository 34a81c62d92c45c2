"""Ranking the unlabeled tasks: scoring paths, features from the cache, valid results."""

from __future__ import annotations

import pytest

from ml_backend.queue.scoring import score_tasks
from ml_backend.state import BackendState
from tests.ml_backend.conftest import make_settings
from tests.ml_backend.training.test_trainer import CONFIG, make_tasks


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    state = BackendState(
        make_settings(tmp_path_factory.mktemp("q"), ACQUISITION_BATCH_DIVERSITY="2")
    )
    _, handlers = state.predictor.handlers(CONFIG, "9")
    return state, handlers[0]


def test_all_tasks_labeled_means_nothing_to_order(handler):
    state, choices = handler
    ordered, results, info = score_tasks(
        state,
        choices,
        make_tasks(per_class=2, unlabeled_per_class=0),
        strategy="discriminator",
        minority=(),
    )
    assert ordered == [] and results == {} and "every task is labeled" in info["note"]


def test_unlabeled_tasks_are_ranked_with_valid_results_and_features_cached(handler):
    state, choices = handler
    tasks = make_tasks(per_class=3, unlabeled_per_class=2)
    unlabeled = {t["id"] for t in tasks if not t["is_labeled"]}
    ordered, results, info = score_tasks(
        state, choices, tasks, strategy="discriminator", minority=("Not a class",)
    )
    assert sorted(ordered) == sorted(unlabeled) and set(results) == unlabeled
    for result in results.values():
        assert (
            result[0]["from_name"] == "defect"
            and result[0]["value"]["choices"][0] in choices.labels
        )
    assert any("not classes of this project" in n for n in info["notes"])
    assert info["features_computed"] == len(tasks)
    again = score_tasks(state, choices, tasks, strategy="entropy", minority=())
    assert again[2]["features_computed"] == 0  # the cache served every task
    # an untrained head has no meaningful probabilities: entropy says so and ranks randomly
    assert any("using random" in n for n in again[2]["notes"])
