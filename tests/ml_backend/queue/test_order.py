"""Queue rounds without Label Studio: scoring paths, bad input, and the scheduler hook.

The Label Studio side (predictions, model_version switch, /next/, half-applied rounds) is tested
against a real server in tests/integration/test_queue_order.py.
"""

from __future__ import annotations

import pytest

from ml_backend.jobs import scheduler
from ml_backend.queue import order as queue_order
from ml_backend.queue.order import round_number, score_tasks
from ml_backend.settings import Settings, SettingsError
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


def test_round_numbers():
    assert round_number("al-12") == 12
    assert (
        round_number("p3-v1") is None and round_number("") is None and round_number("al-x") is None
    )


def test_settings_parse_and_validate():
    s = Settings.from_env(
        {"MINORITY_CLASSES": " Exposed rebar, Spalling ,", "QUEUE_ORDERING": "off"}
    )
    assert s.minority_classes == ("Exposed rebar", "Spalling") and not s.queue_ordering
    assert (
        Settings.from_env({}).queue_ordering
        and Settings.from_env({}).acquisition_strategy == "discriminator"
    )
    with pytest.raises(SettingsError, match="QUEUE_ORDERING"):
        Settings.from_env({"QUEUE_ORDERING": "sometimes"})
    with pytest.raises(SettingsError, match="ACQUISITION_BATCH_DIVERSITY"):
        Settings.from_env({"ACQUISITION_BATCH_DIVERSITY": "-1"})


@pytest.mark.parametrize("enabled", [True, False])
def test_a_training_round_runs_the_queue_round_when_enabled_and_survives_its_failure(
    tmp_path, monkeypatch, enabled
):
    state = BackendState(make_settings(tmp_path, QUEUE_ORDERING=str(enabled).lower()))
    monkeypatch.setattr(
        scheduler, "train_project", lambda state, project, progress: {"version": "p1-v1"}
    )
    calls = []

    def broken(state, project, **options):
        calls.append(project)
        raise RuntimeError("Label Studio went away")

    monkeypatch.setattr(queue_order, "reorder_project", broken)
    result = scheduler.run_round(state, "1")
    assert result["state"] == "succeeded" and result["version"] == "p1-v1"
    if enabled:
        assert calls == ["1"] and result["queue"]["state"] == "failed"
        assert "went away" in result["queue"]["error"]
    else:
        assert calls == [] and "queue" not in result


def test_the_round_reuses_full_stored_prelabels_of_the_same_model():
    from ml_backend.queue.order import stored_prelabels

    choice = {
        "type": "choices",
        "from_name": "defect",
        "to_name": "image",
        "value": {"choices": ["Rust"]},
    }
    mask = {
        "type": "brushlabels",
        "from_name": "defect_mask",
        "to_name": "image",
        "value": {"rle": [1]},
    }
    tasks = [
        {"id": 1, "predictions": [{"model_version": "p3-v2", "result": [choice, mask]}]},
        {"id": 2, "predictions": [{"model_version": "p3-v2+clipseg-x", "result": [mask]}]},
        {"id": 3, "predictions": [{"model_version": "p3-v1", "result": [choice]}]},  # older model
        {"id": 4, "predictions": [{"model_version": "p3-v2", "result": []}]},  # nothing to reuse
        {"id": 5},
    ]
    assert stored_prelabels(tasks, "p3-v2") == {1: [choice, mask], 2: [mask]}


def test_pruning_never_deletes_the_round_in_force_or_a_newer_one(monkeypatch):
    deleted = []
    monkeypatch.setattr(queue_order, "delete_version", lambda c, p, v: deleted.append(v))
    versions = ["al-1", "al-2", "al-3", "al-4", "p1-v1", "tiny-vit-random-seed0"]
    assert queue_order.delete_rounds(None, 1, "al-3", versions) == ["al-1", "al-2"]
    assert deleted == ["al-1", "al-2"]
