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
    ranking = score_tasks(
        state,
        choices,
        make_tasks(per_class=2, unlabeled_per_class=0),
        strategy="discriminator",
        minority=(),
    )
    assert ranking.ordered == [] and ranking.results == {}
    assert "every task is labeled" in ranking.details["note"]


def test_unlabeled_tasks_are_ranked_with_valid_results_and_features_cached(handler):
    state, choices = handler
    tasks = make_tasks(per_class=3, unlabeled_per_class=2)
    unlabeled = {t["id"] for t in tasks if not t["is_labeled"]}
    ranking = score_tasks(
        state, choices, tasks, strategy="discriminator", minority=("Not a class",)
    )
    assert sorted(ranking.ordered) == sorted(unlabeled) and set(ranking.results) == unlabeled
    for result in ranking.results.values():
        assert (
            result[0]["from_name"] == "defect"
            and result[0]["value"]["choices"][0] in choices.labels
        )
    assert any("not classes of this project" in n for n in ranking.details["notes"])
    assert ranking.details["features_computed"] == len(tasks)
    again = score_tasks(state, choices, tasks, strategy="entropy", minority=())
    assert again.details["features_computed"] == 0  # the cache served every task
    # an untrained head has no meaningful probabilities: entropy says so and ranks randomly
    assert any("using random" in n for n in again.details["notes"])
