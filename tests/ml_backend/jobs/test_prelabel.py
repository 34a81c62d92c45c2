"""Bulk pre-label jobs against an in-memory stand-in for the Label Studio SDK client.

The stand-in stores imported predictions on its tasks like Label Studio does, and can lose the
answer of an import (stored, then the connection drops) or be down for a number of calls, so
these tests check what the job promises: one prediction per task and version, whatever fails.
"""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import pytest
from PIL import Image

from ml_backend.jobs import prelabel
from ml_backend.jobs.prelabel_records import PrelabelRecords, job_id_for
from ml_backend.jobs.runner import PrelabelRunner
from ml_backend.server.app import create_app
from ml_backend.state import BackendState
from tests.ml_backend.conftest import make_settings

CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    '<Choice value="Red" predicted_values="crack"/><Choice value="Blue" predicted_values="no_defect"/>'
    "</Choices></View>"
)


def _png(color) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class _Item(dict):
    def model_dump(self):
        return dict(self)


class FakeLabelStudio:
    def __init__(self, n: int, broken=(), labeled=()):
        self.tasks_by_id = {}
        for i in range(1, n + 1):
            image = "data:image/png;base64," + base64.b64encode(b"junk").decode()
            self.tasks_by_id[i] = {
                "id": i,
                "data": {"image": image if i in broken else _png((i * 7 % 255, 20, 90))},
                "is_labeled": i in labeled,
                "annotations": [],
                "predictions": [],
            }
        self.lose_next_import_answers = 0
        self.down_for_calls = 0
        self.imports = 0
        self.projects = SimpleNamespace(get=self._get, import_predictions=self._import)
        self.tasks = SimpleNamespace(list=self._list)

    def _maybe_down(self):
        if self.down_for_calls > 0:
            self.down_for_calls -= 1
            raise ConnectionError("Label Studio is down")

    def _get(self, id):
        self._maybe_down()
        return SimpleNamespace(label_config=CONFIG)

    def _list(self, project, fields="all", query=None, page_size=100):
        self._maybe_down()
        import json

        wanted = json.loads(query)["selectedItems"]["included"] if query else list(self.tasks_by_id)
        return [_Item(self.tasks_by_id[i]) for i in wanted if i in self.tasks_by_id]

    def _import(self, id, request, request_options=None):
        self._maybe_down()
        self.imports += 1
        for item in request:
            self.tasks_by_id[item["task"]]["predictions"].append(dict(item))
        if self.lose_next_import_answers > 0:
            self.lose_next_import_answers -= 1
            raise ConnectionError("connection reset after the import was stored")
        return SimpleNamespace(created=len(request))

    def per_task(self, version):
        return {i: sum(p["model_version"] == version for p in t["predictions"])
                for i, t in self.tasks_by_id.items()}  # fmt: skip


@pytest.fixture
def setup(tmp_path, monkeypatch, trained_tiny):
    def make(n=10, **kw):
        fake = FakeLabelStudio(n, **kw)
        monkeypatch.setattr(prelabel, "ls_client", lambda settings: fake)
        settings = make_settings(
            tmp_path, CLASSIFIER_MODEL=trained_tiny, PRELABEL_CHUNK_SIZE=4, LS_RETRY_SECONDS=0,
            PREDICT_BATCH_SIZE=3,  # chunks of 4 in two pipelined batches
            LS_RETRIES=3, LABEL_STUDIO_URL="http://ls.invalid", LABEL_STUDIO_API_KEY="k",
        )  # fmt: skip
        return fake, BackendState(settings)

    return make


def test_every_unlabeled_task_gets_one_prediction_and_a_rerun_adds_none(setup):
    fake, state = setup(10, labeled={2})
    runner = PrelabelRunner(state)
    job = prelabel.plan(state, 1, "unlabeled")
    assert job["total"] == 9 and job["chunks"] == 3
    summary = runner.run_chunks(job["id"])
    assert summary["state"] == "succeeded" and summary["counts"]["pushed"] == 9
    version = summary["model_version"]
    assert fake.per_task(version) == {i: int(i != 2) for i in range(1, 11)}
    again = runner.run_chunks(prelabel.plan(state, 1, "unlabeled")["id"])
    assert again["counts"]["pushed"] == 0 and again["counts"]["skipped"] == 9
    assert fake.per_task(version) == {i: int(i != 2) for i in range(1, 11)}


def test_a_lost_import_answer_is_not_imported_twice(setup):
    fake, state = setup(8)
    fake.lose_next_import_answers = 1
    job = prelabel.plan(state, 1, "all")
    summary = PrelabelRunner(state).run_chunks(job["id"])
    assert summary["state"] == "succeeded"
    assert set(fake.per_task(summary["model_version"]).values()) == {1}


def test_label_studio_down_mid_job_backs_off_and_resumes(setup):
    fake, state = setup(8)
    job = prelabel.plan(state, 1, "all")
    fake.down_for_calls = 2  # the first chunk's reads fail twice, then succeed
    summary = PrelabelRunner(state).run_chunks(job["id"])
    assert summary["state"] == "succeeded"
    assert set(fake.per_task(summary["model_version"]).values()) == {1}


def test_a_stopped_job_continues_where_it_stopped(setup):
    fake, state = setup(12)
    job = prelabel.plan(state, 1, "all")
    prelabel.run_chunk(state, job["id"], 0)  # then the process "dies"
    records = PrelabelRecords(state.settings.model_dir / "jobs")
    records.update_chunk(job["id"], 1, state="running")  # killed mid-chunk
    resumed = prelabel.plan(state, 1, "all")
    assert resumed["id"] == job["id"] and records.unfinished(job["id"]) == [1, 2]
    imports_before = fake.imports
    summary = PrelabelRunner(state).run_chunks(job["id"])
    assert summary["state"] == "succeeded" and fake.imports == imports_before + 2
    assert set(fake.per_task(summary["model_version"]).values()) == {1}


def test_a_broken_image_is_reported_and_its_chunk_finishes(setup):
    fake, state = setup(8, broken={3})
    summary = PrelabelRunner(state).run_chunks(prelabel.plan(state, 1, "all")["id"])
    counts = fake.per_task(summary["model_version"])
    assert counts[3] == 0 and all(counts[i] == 1 for i in counts if i != 3)
    assert summary["counts"]["failed"] == 1
    errors = PrelabelRunner(state).job(summary["id"])["errors"]
    assert [e["task"] for e in errors] == [3]


def test_a_version_that_is_not_live_is_refused(setup):
    _, state = setup(2)
    with pytest.raises(prelabel.PrelabelError, match="rollback"):
        prelabel.plan(state, 1, "all", version="p1-v9")


def test_job_ids_are_stable_and_safe():
    assert job_id_for(3, "all", "a/b c") == job_id_for(3, "all", "a/b c")
    assert "/" not in job_id_for(3, "all", "a/b c")
    with pytest.raises(ValueError):
        PrelabelRecords("/tmp").job_dir("../etc")


def test_http_routes_validate_and_authenticate(tmp_path, monkeypatch, trained_tiny):
    fake = FakeLabelStudio(5)
    monkeypatch.setattr(prelabel, "ls_client", lambda settings: fake)
    settings = make_settings(tmp_path, CLASSIFIER_MODEL=trained_tiny, BASIC_AUTH_USER="u",
                             BASIC_AUTH_PASS="p", LABEL_STUDIO_URL="http://ls.invalid",
                             LABEL_STUDIO_API_KEY="k")  # fmt: skip
    app = create_app(settings, preload=False)
    client = app.test_client()
    assert client.post("/jobs/prelabel", json={"project": 1}).status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    for bad in ({"project": "x"}, {"project": -1}, {"project": True}, {"project": 1, "mode": "z"}):
        response = client.post("/jobs/prelabel", json=bad, headers=auth)
        assert response.status_code == 400, bad
    started = client.post("/jobs/prelabel", json={"project": 1, "mode": "all"}, headers=auth)
    assert started.status_code == 202
    job_id = started.get_json()["id"]
    state = app.extensions["fm_inspect"]
    assert state.prelabel.wait(job_id, timeout=60)["state"] == "succeeded"
    listed = client.get("/jobs", headers=auth).get_json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]
    one = client.get(f"/jobs/{job_id}", headers=auth).get_json()
    assert one["counts"]["pushed"] == 5
    health = client.get("/health", headers=auth).get_json()
    assert health["jobs"][0]["state"] == "succeeded" and health["redis"] is None
    assert client.get("/jobs/nope", headers=auth).status_code == 404
    metrics = client.get("/metrics", headers=auth).get_data(as_text=True)
    assert "fm_inspect_prelabel_tasks_total" in metrics


def test_health_names_an_unreachable_redis(tmp_path):
    app = create_app(make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"), preload=False)
    health = app.test_client().get("/health").get_json()
    assert health["redis"]["ok"] is False and "unreachable" in health["redis"]["error"]
