"""The bounded training scheduler: floods, unknown and invalid projects, failing rounds.

The rounds here replace ``train_project`` (what they train is tested in
tests/ml_backend/training/test_trainer.py); everything around it is real: the webhook route,
the scheduler, the job executor's threads, the job records on disk.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from ml_backend.jobs import scheduler
from ml_backend.server.app import create_app
from ml_backend.training import trainer
from ml_backend.training.trainer import LabelStudioRejected, with_retries
from tests.ml_backend.conftest import make_settings


def backend(tmp_path, **env):
    base = {"LABEL_STUDIO_URL": "http://ls.invalid:8080", "LABEL_STUDIO_API_KEY": "k",
            "LS_RETRIES": "3", "LS_RETRY_SECONDS": "0", "TRAIN_QUIET_SECONDS": "0",
            "QUEUE_ORDERING": "false", "REPREDICT_AFTER_TRAINING": "false"}  # fmt: skip
    app = create_app(make_settings(tmp_path, **{**base, **env}), preload=False)
    return app.test_client(), app.extensions["fm_inspect"]


def start(project) -> dict:
    return {"action": "START_TRAINING", "project": {"id": project}}


def test_a_flood_of_distinct_projects_keeps_threads_and_rounds_bounded(tmp_path, monkeypatch):
    release, running, peak = threading.Event(), [], [0]
    baseline = threading.active_count()

    def slow(state, project, progress=None):
        running.append(project)
        peak[0] = max(peak[0], threading.active_count() - baseline)
        release.wait(30)
        return {"version": f"p{project}-v1"}

    monkeypatch.setattr(scheduler, "train_project", slow)
    client, state = backend(tmp_path, TRAIN_WORKERS="2", TRAIN_MAX_PENDING="16")
    started = time.perf_counter()
    codes = [client.post("/webhook", json=start(p)).status_code for p in range(1, 301)]
    answered = time.perf_counter() - started
    assert codes[:16] == [200] * 16 and set(codes[16:]) == {429}, codes
    refused = client.post("/webhook", json=start(999))
    assert refused.status_code == 429 and "TRAIN_MAX_PENDING" in refused.get_json()["error"]
    time.sleep(0.5)
    assert len(running) == 2  # two workers, the other 14 rounds wait in the one queue
    assert threading.active_count() - baseline <= 2 + 1  # the workers (+ nothing per project)
    assert answered < 15  # 300 answers, none of them waits for a round
    release.set()
    assert state.scheduler.wait_idle(timeout=60)
    assert sorted(map(int, running)) == list(range(1, 17))
    assert peak[0] <= 3
    assert state.scheduler.load()["projects"] == 0  # every slot free again
    assert client.post("/webhook", json=start(500)).status_code == 200
    assert state.scheduler.wait_idle(timeout=30)


def test_quiet_periods_share_one_clock_thread(tmp_path, monkeypatch):
    done = []
    monkeypatch.setattr(scheduler, "train_project",
                        lambda state, project, progress=None: done.append(project) or {"version": "v"})  # fmt: skip
    client, state = backend(tmp_path, TRAIN_AFTER_ANNOTATIONS="100", TRAIN_QUIET_SECONDS="0.5",
                            TRAIN_MAX_PENDING="500")  # fmt: skip
    baseline = threading.active_count()
    for project in range(1, 201):
        event = {"action": "ANNOTATION_CREATED", "project": project}
        assert client.post("/webhook", json=event).get_json()["status"] == "queued"
    assert threading.active_count() - baseline <= 1  # one clock, not 200 timers
    assert state.scheduler.wait_idle(timeout=60)
    assert len(done) == 200


@pytest.mark.parametrize("bad", ["a/b", "../etc", [1], {"x": 1}, "0", "-3", "1e9", "x" * 300])
def test_an_invalid_project_id_costs_nothing(tmp_path, bad):
    client, state = backend(tmp_path)
    response = client.post("/webhook", json={"action": "START_TRAINING", "project": bad})
    assert response.status_code == 400 and "project id" in response.get_json()["error"]
    assert state.scheduler.load()["projects"] == 0
    jobs = state.settings.model_dir / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []


class _Missing(Exception):
    status_code = 404


def test_an_unknown_project_is_asked_once_then_ignored(tmp_path, monkeypatch):
    calls = []

    def get(id):
        calls.append(id)
        raise _Missing("project not found")

    client_stub = SimpleNamespace(projects=SimpleNamespace(get=get))
    monkeypatch.setattr(trainer, "ls_client", lambda settings: client_stub)
    client, state = backend(tmp_path)
    assert client.post("/webhook", json=start(404)).status_code == 200
    assert state.scheduler.wait_idle(timeout=30)
    assert calls == [404]  # a 4xx is not retried
    record = state.scheduler.records.read("404")
    assert record["state"] == "failed" and "not found" in record["error"]
    assert record.get("next_attempt_at") is None  # no retry armed
    again = client.post("/webhook", json=start(404)).get_json()
    assert again["status"] == "ignored" and calls == [404]


def test_a_failing_round_leaves_the_project_trainable(tmp_path, monkeypatch):
    calls = []

    def disk_full_once(state, project, progress=None):
        calls.append(project)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return {"version": f"p{project}-v1"}

    monkeypatch.setattr(scheduler, "train_project", disk_full_once)
    client, state = backend(tmp_path, LS_RETRY_SECONDS="0.01")
    assert client.post("/webhook", json=start(3)).get_json()["status"] == "training"
    assert state.scheduler.wait_idle(timeout=30)
    record = state.scheduler.records.read("3")
    assert record["state"] == "failed" and "No space left" in record["error"]
    assert calls == ["3"]  # a local error is never retried
    assert state.scheduler.load() == {**state.scheduler.load(), "projects": 0, "running": 0}
    leftovers = [p.name for p in (state.settings.model_dir / "jobs").iterdir() if ".tmp" in p.name]
    assert leftovers == []
    assert client.post("/webhook", json=start(3)).get_json()["status"] == "training"
    assert state.scheduler.wait_idle(timeout=30)
    assert state.scheduler.records.read("3")["state"] == "succeeded" and calls == ["3", "3"]
    health = client.get("/health").get_json()
    (job,) = [j for j in health["jobs"] if j["kind"] == "train"]
    assert job == {**job, "id": "train-3", "state": "succeeded", "project": "3"}


def test_only_label_studio_outages_are_retried(tmp_path):
    settings = make_settings(tmp_path, LS_RETRIES="4", LS_RETRY_SECONDS="0")
    calls = []

    def local_bug():
        calls.append(1)
        raise ValueError("invalid literal for int()")

    with pytest.raises(ValueError):
        with_retries(settings, "reading", local_bug)
    assert len(calls) == 1

    def outage():
        calls.append(2)
        raise httpx.ConnectError("refused")

    with pytest.raises(trainer.LabelStudioUnavailable):
        with_retries(settings, "reading", outage)
    assert calls.count(2) == 4

    def forbidden():
        calls.append(3)
        raise type("ApiError", (Exception,), {"status_code": 403})("forbidden")

    with pytest.raises(LabelStudioRejected):
        with_retries(settings, "reading", forbidden)
    assert calls.count(3) == 1
