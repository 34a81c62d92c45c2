"""Queue rounds without Label Studio: settings, the scheduler hook and pre-label reuse.

Scoring is tested in test_scoring.py, the Label Studio side in test_rounds.py and against a real
server in tests/integration/test_queue_order.py.
"""

from __future__ import annotations

import pytest

from ml_backend.jobs import scheduler
from ml_backend.queue import order as queue_order
from ml_backend.settings import Settings, SettingsError
from ml_backend.state import BackendState
from tests.ml_backend.conftest import make_settings


def test_settings_parse_and_validate():
    s = Settings.from_env(
        {"MINORITY_CLASSES": " Exposed rebar, Spalling ,", "QUEUE_ORDERING": "off"}
    )
    assert s.minority_classes == ("Exposed rebar", "Spalling") and not s.queue_ordering
    assert (
        Settings.from_env({}).queue_ordering
        and Settings.from_env({}).acquisition_strategy == "minority-split"
    )
    assert Settings.from_env({}).minority_share == 0.05
    assert Settings.from_env({"MINORITY_SHARE": "0"}).minority_share == 0.0
    with pytest.raises(SettingsError, match="MINORITY_SHARE"):
        Settings.from_env({"MINORITY_SHARE": "0.8"})
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
