"""Learning from submitted labels: training rounds, versions, the scheduler and injected faults.

Label Studio's API is replaced by an in-memory project (same method names as the SDK client);
the training itself is real (tiny-vit, a few epochs on synthetic images).
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from PIL import Image

from ml_backend.jobs import prelabel
from ml_backend.jobs.records import JobRecords, ProjectLock
from ml_backend.jobs.scheduler import run_round
from ml_backend.server.app import create_app
from ml_backend.training import classifier_round, trainer
from model_zoo.data.synth import render_sample
from tests.images import data_url
from tests.ml_backend.conftest import make_settings

CLASSES = {"Algae": "algae", "Rust": "rust", "No defect": "no_defect"}
CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    + "".join(f'<Choice value="{c}"/>' for c in CLASSES)
    + "</Choices></View>"
)


def make_tasks(per_class: int = 8, unlabeled_per_class: int = 1, seed: int = 0) -> list[dict]:
    """Synthetic tasks: ``per_class`` annotated and ``unlabeled_per_class`` open ones per class."""
    rng = np.random.default_rng(seed)
    tasks = []
    for title, cls in CLASSES.items():
        for i in range(per_class + unlabeled_per_class):
            image, _, _ = render_sample(cls, rng, size=64)
            labeled = i < per_class
            choice = {
                "from_name": "defect",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [title]},
            }
            annotation = {"id": len(tasks) + 1, "was_cancelled": False, "result": [choice]}
            tasks.append(
                {
                    "id": len(tasks) + 1,
                    "data": {"image": data_url(Image.fromarray(image))},
                    "is_labeled": labeled,
                    "annotations": [annotation] if labeled else [],
                }
            )
    return tasks


class FakeLabelStudio:
    """The SDK calls the trainer makes, against an in-memory project."""

    def __init__(self, tasks, label_config=CONFIG, fail_with: Exception | None = None):
        self.tasks = tasks
        self.label_config = label_config
        self.fail_with = fail_with
        self.imported: list[dict] = []
        self.calls = 0
        self.projects = SimpleNamespace(get=self._get_project, import_predictions=self._import)
        self.tasks_api = SimpleNamespace(list=self._list)

    def _check(self):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with

    def _get_project(self, id):
        self._check()
        return SimpleNamespace(id=id, label_config=self.label_config)

    def _list(self, project, fields="all", page_size=100, query=None):
        """Tasks as Label Studio lists them, with the predictions imported so far; a Data
        Manager ``query`` selects task ids (the pre-label job reads its chunk that way)."""
        self._check()
        wanted = set(json.loads(query)["selectedItems"]["included"]) if query else None
        for task in self.tasks:
            if wanted is None or task["id"] in wanted:
                stored = [p for p in self.imported if p["task"] == task["id"]]
                yield {**task, "predictions": stored}

    def _import(self, id, request, request_options=None):
        self.imported.extend(request)
        return SimpleNamespace(created=len(request))


@pytest.fixture
def fake_ls(monkeypatch):
    ls = FakeLabelStudio(make_tasks())
    client = SimpleNamespace(projects=ls.projects, tasks=ls.tasks_api)
    monkeypatch.setattr(trainer, "ls_client", lambda settings: client)
    monkeypatch.setattr(prelabel, "ls_client", lambda settings: client)  # re-prediction job
    return ls


def backend(tmp_path, **env):
    base = {
        "LABEL_STUDIO_URL": "http://ls.invalid:8080",
        "LABEL_STUDIO_API_KEY": "token-123",
        "TRAIN_EPOCHS": "3",
        "LS_RETRIES": "2",
        "LS_RETRY_SECONDS": "0",
        "TRAIN_QUIET_SECONDS": "0",
        "QUEUE_ORDERING": "false",  # queue rounds have their own tests
    }
    base.update(env)
    app = create_app(make_settings(tmp_path, **base), preload=False)
    return app, app.extensions["fm_inspect"]


def predict_body(client, project, task) -> dict:
    return client.post(
        "/predict", json={"tasks": [task], "label_config": CONFIG, "project": project}
    ).get_json()


def predict_version(client, project, task) -> str:
    return predict_body(client, project, task)["results"][0]["model_version"]


def test_a_round_trains_stores_serves_and_pushes_a_new_version(tmp_path, fake_ls):
    app, state = backend(tmp_path)
    client = app.test_client()
    unlabeled = [t for t in fake_ls.tasks if not t["is_labeled"]]
    before = predict_body(client, "7.1700000000", unlabeled[0])
    assert before["results"] == [[]]  # a fresh head is random: no prediction at all
    assert before["note"].startswith("no trained version yet: label 3 images of each of two")
    setup = client.post("/setup", json={"project": "7.1700000000", "schema": CONFIG}).get_json()
    assert setup["model_version"] == before["model_version"] == before["note"]

    result = run_round(state, "7")
    assert (
        result["state"] == "succeeded" and result["version"] == "p7-v1" and result["parent"] is None
    )
    assert result["examples"] == 24

    # served by every request for project 7 from now on; other projects keep the configured model
    assert predict_version(client, "7.1700000000", unlabeled[0]) == "p7-v1"
    other_worker, _ = backend(tmp_path)  # another process with the same MODEL_DIR
    assert predict_version(other_worker.test_client(), "7.1700000000", unlabeled[0]) == "p7-v1"
    assert predict_body(client, "8.1700000000", unlabeled[0])["results"] == [[]]
    setup = client.post("/setup", json={"project": "7.1700000000", "schema": CONFIG}).get_json()
    assert setup == {"model_version": "p7-v1"}

    # the unlabeled tasks were re-predicted and pushed in bulk
    assert sorted(p["task"] for p in fake_ls.imported) == sorted(t["id"] for t in unlabeled)
    assert {p["model_version"] for p in fake_ls.imported} == {"p7-v1"}

    versions = client.get("/versions?project=7").get_json()
    (detail,) = versions["details"]
    assert versions["versions"] == ["p7-v1"] and detail["live"]
    assert detail["labels"] == list(CLASSES) and detail["label_count"] == 24
    assert 0.0 <= detail["metrics"]["accuracy"] <= 1.0
    # 24 labels: below FINETUNE_MIN_LABELS, so the fast head alone, every class learned
    assert detail["stage"] == "fast"
    assert detail["decision"]["learned_classes"] == list(CLASSES)
    # no defect <BrushLabels>: the round's segmentation step is recorded, not left "pending"
    assert detail["segmentation"]["status"] == "skipped", detail["segmentation"]
    assert versions["state"]["state"] == "serving"
    assert versions["state"]["message"].startswith("serving p7-v1: fast version trained on 24")

    health = client.get("/health").get_json()
    assert health["projects"] == {"7": "p7-v1"}
    (record,) = health["training"]
    assert record["state"] == "succeeded" and record["live_version"] == "p7-v1"

    # a second round continues from the live version
    second = run_round(state, "7")
    assert second["version"] == "p7-v2" and second["parent"] == "p7-v1"
    assert predict_version(client, "7.1", unlabeled[0]) == "p7-v2"

    # rollback through the endpoint
    r = client.post("/versions/live", json={"project": 7, "version": "p7-v1"})
    assert r.status_code == 200
    assert predict_version(client, "7.1", unlabeled[0]) == "p7-v1"
    assert client.post("/versions/live", json={"project": 7, "version": "p7-v9"}).status_code == 404


def test_training_crash_keeps_the_previous_version_serving(tmp_path, fake_ls, monkeypatch):
    app, state = backend(tmp_path)
    run_round(state, "3")

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(classifier_round, "fine_tune", broken)
    with pytest.raises(RuntimeError, match="injected"):
        run_round(state, "3")
    client = app.test_client()
    assert predict_version(client, "3.1", fake_ls.tasks[-1]) == "p3-v1"
    (record,) = client.get("/health").get_json()["training"]
    assert record["state"] == "failed" and "injected" in record["error"]
    said = client.get("/versions?project=3").get_json()["state"]
    assert said["live_version"] == "p3-v1" and "the last round failed" in said["message"]
    assert "injected" in said["message"] and "keeps serving" in said["message"]
    assert [v.version for v in state.models.store.versions("project-3")] == ["p3-v1"]


def test_labels_not_in_the_config_are_reported_not_fatal(tmp_path, fake_ls):
    fake_ls.tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["Graffiti"]
    _, state = backend(tmp_path)
    result = run_round(state, "4")
    assert result["state"] == "succeeded"
    meta = state.models.store.versions("project-4")[0].meta
    assert meta["training_set"]["unknown_labels"] == {"Graffiti": 1}
    assert meta["label_count"] == 23


def test_one_class_only_is_skipped_with_a_reason(tmp_path, fake_ls):
    fake_ls.tasks = [
        t
        for t in fake_ls.tasks
        if t["annotations"] and t["annotations"][0]["result"][0]["value"]["choices"] == ["Rust"]
    ]
    _, state = backend(tmp_path)
    result = run_round(state, "5")
    assert result["state"] == "skipped" and "two classes" in result["reason"]
    assert result["reason"].startswith("8 of 11 labels for the first round")
    assert state.models.store.versions("project-5") == []
    # the state says so in words, and nothing random is served meanwhile
    app = create_app(state.settings, preload=False)
    client = app.test_client()
    body = predict_body(client, "5.1", fake_ls.tasks[0])
    assert body["results"] == [[]]
    assert body["note"] == "no trained version yet: " + result["reason"]
    health = client.get("/health").get_json()
    assert health["project_states"]["5"]["state"] == "untrained"
    assert "8 of 11 labels" in health["project_states"]["5"]["message"]


def test_label_studio_unreachable_is_retried_then_reported(tmp_path, fake_ls):
    fake_ls.fail_with = httpx.ConnectError("connection refused")
    _, state = backend(tmp_path, LS_RETRIES="3")
    with pytest.raises(trainer.LabelStudioUnavailable, match="LABEL_STUDIO_URL"):
        run_round(state, "6")
    assert fake_ls.calls == 3
    assert JobRecords(state.settings.model_dir / "jobs").read("6")["state"] == "failed"


def test_a_transient_outage_loses_no_trigger(tmp_path, fake_ls, monkeypatch):
    """The scheduler retries a round that failed because Label Studio was down."""
    fake_ls.fail_with = httpx.ConnectError("down for maintenance")
    _, state = backend(tmp_path, LS_RETRIES="1")
    scheduler = state.scheduler
    scheduler.trigger("9", "START_TRAINING")
    deadline = time.monotonic() + 60
    while JobRecords(state.settings.model_dir / "jobs").read("9").get("state") != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    fake_ls.fail_with = None  # Label Studio is back; the armed retry trains
    assert scheduler.wait_idle(timeout=120)
    assert state.models.store.live_version("project-9") == "p9-v1"


def test_webhook_answers_at_once_and_debounces(tmp_path, monkeypatch):
    calls, release = [], threading.Event()

    def slow_round(state, project, progress=None):
        calls.append(project)
        release.wait(10)
        return {"version": f"p{project}-v{len(calls)}"}

    monkeypatch.setattr("ml_backend.jobs.scheduler.train_project", slow_round)
    app, state = backend(tmp_path, TRAIN_AFTER_ANNOTATIONS="3")
    client = app.test_client()
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 2}, "annotation": {"id": 1}}
    first = client.post("/webhook", json=event).get_json()
    second = client.post("/webhook", json=event).get_json()
    assert (
        first["status"] == second["status"] == "queued"
        and second["annotations_since_training"] == 2
    )
    assert calls == []
    third = client.post("/webhook", json=event).get_json()
    assert third["status"] == "training"
    # the round is running in the background and the webhook still answers
    deadline = time.monotonic() + 30
    while not calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    during = client.post("/webhook", json={**event, "action": "START_TRAINING"})
    assert during.status_code == 200
    assert len(calls) == 1  # never two rounds of one project at once
    release.set()
    assert state.scheduler.wait_idle(timeout=60)
    assert calls == ["2", "2"]  # the trigger that came during the round was not lost
    assert (
        client.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 2}}).get_json()[
            "status"
        ]
        == "ignored"
    )


def test_quiet_period_starts_a_round(tmp_path, monkeypatch):
    done = threading.Event()
    monkeypatch.setattr(
        "ml_backend.jobs.scheduler.train_project",
        lambda state, project, progress=None: done.set() or {"version": "x"},
    )
    _, state = backend(tmp_path, TRAIN_AFTER_ANNOTATIONS="100", TRAIN_QUIET_SECONDS="0.2")
    assert state.scheduler.trigger("1", "ANNOTATION_UPDATED")["status"] == "queued"
    assert done.wait(30)


def test_project_lock_is_exclusive_across_holders(tmp_path):
    first, second = ProjectLock(tmp_path, "1"), ProjectLock(tmp_path, "1")
    assert first.acquire()
    assert not second.acquire()
    assert ProjectLock(tmp_path, "2").acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_rq_runner(tmp_path, fake_ls, monkeypatch):
    """With REDIS_URL the round is an RQ job that a worker process runs."""
    import fakeredis
    import redis
    from rq import Queue, SimpleWorker

    server = fakeredis.FakeServer()
    monkeypatch.setattr(
        redis.Redis,
        "from_url",
        classmethod(lambda cls, url, **kw: fakeredis.FakeRedis(server=server)),
    )
    env = {
        "MODEL_DIR": str(tmp_path / "models"),
        "DEVICE": "cpu",
        "LABEL_STUDIO_URL": "http://ls.invalid:8080",
        "LABEL_STUDIO_API_KEY": "token-123",
        "TRAIN_EPOCHS": "2",
        "REDIS_URL": "redis://redis:6379/0",
        "LOG_LEVEL": "WARNING",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app, state = backend(
        tmp_path, **{k: v for k, v in env.items() if k not in {"MODEL_DIR", "DEVICE", "LOG_LEVEL"}}
    )
    answer = (
        app.test_client()
        .post("/webhook", json={"action": "START_TRAINING", "project": {"id": 11}})
        .get_json()
    )
    assert answer["status"] == "training"
    connection = fakeredis.FakeRedis(server=server)
    queue = Queue("fm-inspect", connection=connection)
    assert queue.count == 1
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert state.models.store.live_version("project-11") == "p11-v1"


def test_a_round_self_trains_on_the_unlabeled_tasks_and_records_the_pool(tmp_path, monkeypatch):
    ls = FakeLabelStudio(make_tasks(per_class=4, unlabeled_per_class=6))
    client = SimpleNamespace(projects=ls.projects, tasks=ls.tasks_api)
    monkeypatch.setattr(trainer, "ls_client", lambda settings: client)
    monkeypatch.setattr(prelabel, "ls_client", lambda settings: client)
    import timm
    from timm.models import save_for_hf

    cnn = tmp_path / "cnn"  # a pretrained-like backbone (not random): the probe runs
    save_for_hf(timm.create_model("resnet10t", num_classes=3), cnn, safe_serialization=True)
    _, state = backend(
        tmp_path,
        REPREDICT_AFTER_TRAINING="false",
        CLASSIFIER_MODEL=str(cnn),
        TRAIN_SELF_TRAINING="true",
    )
    assert run_round(state, "5")["state"] == "succeeded"
    meta = state.models.store.versions("project-5")[0].meta
    assert meta["unlabeled_pool"]["candidates"] == 18 and meta["unlabeled_pool"]["used"] == 18
    assert meta["metrics"]["unlabeled_pool"] == 18
    assert meta["metrics"]["self_training"]["used"] == 18


def test_a_broken_unlabeled_pool_never_fails_a_round(tmp_path, fake_ls, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("feature cache on a full disk (injected)")

    monkeypatch.setattr("ml_backend.training.unlabeled_pool.FeatureCache.get", broken)
    _, state = backend(tmp_path, REPREDICT_AFTER_TRAINING="false", TRAIN_SELF_TRAINING="true")
    assert run_round(state, "6")["state"] == "succeeded"
    pool = state.models.store.versions("project-6")[0].meta["unlabeled_pool"]
    assert pool["used"] == 0 and pool["skipped"] == {"pool unreadable: OSError": 1}


def test_a_round_keeps_the_live_segmentation_model_until_it_has_its_own(
    tmp_path, fake_ls, monkeypatch
):
    """The fast version goes live before the segmentation step ends: it carries the previous
    version's segmentation model (folder and record), so masks keep coming from it, and a step
    that trains nothing does not drop it."""
    app, state = backend(tmp_path, REPREDICT_AFTER_TRAINING="false")
    assert run_round(state, "7")["version"] == "p7-v1"
    store, scope = state.models.store, state.models.project_scope("7")
    folder = store.live_path(scope) / trainer.SEGMENTATION_FOLDER
    folder.mkdir()
    (folder / "segmentation.json").write_text("{}")  # stands for a trained model's files
    (folder / "weights.bin").write_bytes(b"\x01" * 64)
    trained = {"status": "trained", "holdout_mean_iou": 0.5, "cam_holdout_mean_iou": 0.2}
    store.update_meta(scope, "p7-v1", {"segmentation": trained})

    seen = {}

    def no_model_this_round(state_, label_config, project, classifier, examples, training_set):
        live = store.live_path(scope)  # the fast version, live while the step runs
        seen["live"] = live.name
        seen["carried"] = (live / trainer.SEGMENTATION_FOLDER / "weights.bin").read_bytes()
        seen["record"] = store.meta(live)["segmentation"]
        return None, {"status": "skipped", "reason": "no new masks (test)"}

    monkeypatch.setattr(trainer, "_segmentation_step", no_model_this_round)
    assert run_round(state, "7")["version"] == "p7-v2"
    assert seen["live"] == "p7-v2" and seen["carried"] == b"\x01" * 64
    assert seen["record"]["holdout_mean_iou"] == 0.5
    assert seen["record"]["this_round"]["status"] == "pending"
    live = store.live_path(scope)
    assert live.name == "p7-v2" and (live / trainer.SEGMENTATION_FOLDER / "weights.bin").is_file()
    record = store.meta(live)["segmentation"]
    assert record["carried_from"] == "p7-v1" and record["holdout_mean_iou"] == 0.5
    assert record["this_round"] == {"status": "skipped", "reason": "no new masks (test)"}
    # nothing changed in the version's files list: the rewritten record is not one of them
    assert store.missing_files(live) == []
