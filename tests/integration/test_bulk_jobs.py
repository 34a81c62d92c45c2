"""Bulk pre-label jobs against a real Label Studio 1.23.2 and a real ``redis-server``.

- in threads (no REDIS_URL): every unlabeled task gets exactly one prediction of the version, a
  broken image is reported and skipped, and running the job again adds nothing;
- on two ``rq worker`` processes sharing MODEL_DIR: one is SIGKILLed while it runs a chunk; its
  heartbeat stops, so RQ's abandoned-job handling re-queues the chunk within three beats (6 s),
  long before PRELABEL_CHUNK_TIMEOUT (600 s, more than the test waits), the other worker
  finishes it, and afterwards every
  task still has exactly one prediction of the version; a training round runs on the workers too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml_backend.jobs.runner import RQ_WORKER_OPTIONS, PrelabelRunner
from ml_backend.labelstudio.project import annotate_choices, client_for, create_project
from ml_backend.settings import Settings
from ml_backend.state import BackendState
from ml_backend.tools.local_redis import LocalRedis, RedisNotInstalled
from tests.integration.proxy import Switchable

CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    '<Choice value="Red" predicted_values="rust"/><Choice value="Blue" predicted_values="algae"/>'
    "</Choices></View>"
)
TASKS = 300


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    try:
        server = LocalRedis(tmp_path_factory.mktemp("redis")).start()
    except RedisNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def _project(label_studio, token, local_files_root, name: str, broken: int = 0):
    """A project of TASKS tiny images (+ ``broken`` files that are not images)."""
    folder = local_files_root / name
    folder.mkdir()
    rng = np.random.default_rng(len(name))
    for i in range(TASKS):
        color = (200, 30, 30) if i % 2 else (30, 30, 200)
        noise = rng.integers(0, 40, (16, 16, 3), dtype=np.uint8)
        Image.fromarray((np.array(color, np.uint8) + noise).astype(np.uint8)).save(
            folder / f"{i:04d}.png"
        )
    for i in range(broken):
        (folder / f"broken-{i}.png").write_bytes(b"this is not a png")
    client = client_for(label_studio.url, token)
    project = create_project(client, name, CONFIG)
    label_studio.add_local_storage(project, folder, regex_filter=r".*\.png")
    return client, project


def _env(label_studio, token, tmp_path, **extra) -> dict[str, str]:
    return {
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": token,
        "MODEL_DIR": str(tmp_path / "models"),
        "CLASSIFIER_MODEL": extra.pop("model"),  # a trained tiny-vit: throughput, not quality
        "PRELABEL_CHUNK_SIZE": "20",
        "LS_RETRY_SECONDS": "1",
        "QUEUE_ORDERING": "false",
        **extra,
    }


def _per_task(client, project: int, version: str) -> Counter:
    return Counter(
        p.task for p in client.predictions.list(project=project) if p.model_version == version
    )


def test_prelabel_in_threads_is_idempotent_and_skips_broken_tasks(
    tmp_path, label_studio, legacy_token, local_files_root, trained_tiny
):
    client, project = _project(label_studio, legacy_token, local_files_root, "bulk-threads", 2)
    state = BackendState(
        Settings.from_env(_env(label_studio, legacy_token, tmp_path, model=trained_tiny))
    )
    runner = PrelabelRunner(state)
    started = runner.start(project, "unlabeled")
    summary = runner.wait(started["id"], timeout=300)
    assert summary["state"] == "succeeded", summary
    assert summary["counts"]["pushed"] == TASKS
    assert summary["counts"]["failed"] == 2
    errors = runner.job(started["id"])["errors"]
    assert len(errors) == 2 and all("image" in e["error"].lower() for e in errors), errors
    per_task = _per_task(client, project, summary["model_version"])
    assert len(per_task) == TASKS and set(per_task.values()) == {1}

    again = runner.wait(runner.start(project, "unlabeled")["id"], timeout=300)
    assert again["counts"]["pushed"] == 0
    assert _per_task(client, project, summary["model_version"]) == per_task


def _worker(env: dict[str, str], log_path) -> subprocess.Popen:
    args = [str(Path(sys.executable).parent / "rq"), "worker", "--url", env["REDIS_URL"],
            *RQ_WORKER_OPTIONS, "--job-monitoring-interval", "3", "fm-inspect"]  # fmt: skip
    log = open(log_path, "ab")  # noqa: SIM115 - the worker keeps it
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=log,
                            start_new_session=True)  # fmt: skip


def _running_chunk_of(runner, job_id: str, pid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for chunk in runner.records.chunks(job_id):
            if chunk.get("state") == "running" and chunk.get("worker", "").endswith(f":{pid}"):
                return chunk
        time.sleep(0.01)
    raise AssertionError(f"worker {pid} never ran a chunk")


def test_two_rq_workers_one_killed_mid_chunk(
    tmp_path, label_studio, legacy_token, local_files_root, redis_server, isolated_env, trained_tiny
):
    client, project = _project(label_studio, legacy_token, local_files_root, "bulk-rq")
    env = _env(label_studio, legacy_token, tmp_path, model=trained_tiny, REDIS_URL=redis_server.url,
               TRAIN_EPOCHS="2", OMP_NUM_THREADS="1",
               PRELABEL_CHUNK_TIMEOUT="600", JOB_HEARTBEAT_SECONDS="2")  # fmt: skip
    state = BackendState(Settings.from_env(env))
    runner = PrelabelRunner(state)
    victim = _worker({**isolated_env, **env}, tmp_path / "worker-1.log")
    survivor = None
    try:
        job = runner.start(project, "unlabeled")
        killed = _running_chunk_of(runner, job["id"], victim.pid, timeout=120)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        survivor = _worker({**isolated_env, **env}, tmp_path / "worker-2.log")
        summary = runner.wait(job["id"], timeout=240)
        assert summary["state"] == "succeeded", summary
        redone = runner.records.chunk(job["id"], killed["index"])
        assert redone["state"] == "done" and redone["attempts"] >= 2, redone
        assert redone["worker"].endswith(f":{survivor.pid}")
        per_task = _per_task(client, project, summary["model_version"])
        assert len(per_task) == TASKS and set(per_task.values()) == {1}, Counter(per_task.values())

        tasks = sorted(t.id for t in client.tasks.list(project=project))
        for i, task_id in enumerate(tasks[:16]):
            annotate_choices(client, task_id, ["Red" if i % 2 else "Blue"], from_name="defect")
        state.scheduler.trigger(str(project), "START_TRAINING")
        deadline = time.monotonic() + 300
        record = {}
        while time.monotonic() < deadline:
            record = state.scheduler.records.read(str(project))
            if record.get("state") in {"succeeded", "failed", "skipped"}:
                break
            time.sleep(0.5)
        assert record.get("state") == "succeeded", record
    finally:
        for worker in (victim, survivor):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)


def test_label_studio_down_mid_job_backs_off_resumes_and_duplicates_nothing(
    tmp_path, label_studio, legacy_token, local_files_root, trained_tiny
):
    """Label Studio becomes unreachable (connections refused, open ones cut) after a few chunks
    and is back 5 s later: the job backs off, resumes on its own, and no task gets a second
    prediction of the version."""
    client, project = _project(label_studio, legacy_token, local_files_root, "bulk-outage")
    proxy = Switchable(label_studio.port).up()
    env = _env(label_studio, legacy_token, tmp_path, model=trained_tiny, LABEL_STUDIO_URL=proxy.url,
               LS_RETRIES="4", LS_RETRY_SECONDS="1", PRELABEL_CHUNK_SIZE="10")  # fmt: skip
    state = BackendState(Settings.from_env(env))
    runner = PrelabelRunner(state)
    job = runner.start(project, "unlabeled")
    deadline = time.monotonic() + 120
    while runner.records.summary(job["id"])["chunk_states"]["done"] < 2:
        assert time.monotonic() < deadline, runner.records.summary(job["id"])
        time.sleep(0.01)
    proxy.down()
    time.sleep(1)
    during = runner.records.summary(job["id"])["chunk_states"]["done"]
    time.sleep(4)
    assert runner.records.summary(job["id"])["chunk_states"]["done"] == during  # no progress
    proxy.up()
    summary = runner.wait(job["id"], timeout=300)
    assert summary["state"] == "succeeded", summary
    assert summary["counts"]["pushed"] == TASKS and summary["counts"]["failed"] == 0, summary
    per_task = _per_task(client, project, summary["model_version"])
    assert len(per_task) == TASKS and set(per_task.values()) == {1}, Counter(per_task.values())
    proxy.down()
