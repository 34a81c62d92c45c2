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
    # an untrained head orders the queue but names no class in the round's predictions
    assert all(result == [] for result in ranking.results.values())
    assert any("not classes of this project" in n for n in ranking.details["notes"])
    assert ranking.details["features_computed"] == len(tasks)
    again = score_tasks(state, choices, tasks, strategy="entropy", minority=())
    assert again.details["features_computed"] == 0  # the cache served every task
    # an untrained head has no meaningful probabilities: entropy says so and ranks randomly
    assert any("using random" in n for n in again.details["notes"])


def test_minority_split_hands_its_minority_picks_on_to_the_next_round(handler):
    state, choices = handler
    tasks = make_tasks(per_class=3, unlabeled_per_class=4)
    first = score_tasks(state, choices, tasks, strategy="minority-split", minority=("Rust",))
    handed_on = first.details["history"]
    picked = handed_on["picked_ids"]
    unlabeled = {t["id"] for t in tasks if not t["is_labeled"]}
    assert picked and set(picked) <= unlabeled and set(picked) <= set(first.ordered[:2])
    assert 0.0 < handed_on["split"] <= 1.0
    # the picks get labeled (all "Algae": the discriminator missed) and the next round knows
    by_id = {t["id"]: t for t in tasks}
    for task_id in picked:
        by_id[task_id]["is_labeled"] = True
        by_id[task_id]["annotations"] = [
            {
                "id": 1000 + task_id,
                "was_cancelled": False,
                "result": [
                    {
                        "from_name": "defect",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": ["Algae"]},
                    }
                ],
            }
        ]
    second = score_tasks(
        state, choices, tasks, strategy="minority-split", minority=("Rust",), history=handed_on
    )
    assert second.details["history"]["found"] < handed_on["found"]
    assert not set(second.ordered) & set(picked)


def test_a_trained_head_names_its_choice_in_every_result(tmp_path_factory, trained_tiny):
    state = BackendState(make_settings(tmp_path_factory.mktemp("q"), CLASSIFIER_MODEL=trained_tiny))
    _, (choices,) = state.predictor.handlers(CONFIG, "9")
    tasks = make_tasks(per_class=3, unlabeled_per_class=2)
    ranking = score_tasks(state, choices, tasks, strategy="margin", minority=())
    assert len(ranking.results) == 6
    for result in ranking.results.values():
        assert result[0]["from_name"] == "defect"
        assert result[0]["value"]["choices"][0] in choices.labels
