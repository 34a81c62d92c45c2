"""Faults of the RQ side against a real ``redis-server`` (started and stopped here):

- a worker that dies mid-job is noticed within three heartbeats, not after the job timeout;
- the job timeout is not swallowed by ``except Exception`` in the job's code;
- Redis down: /health says so, webhooks are answered at once, and the held trigger reaches
  Redis once it is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Queue, Retry
from rq.job import Job
from rq.registry import StartedJobRegistry

from ml_backend.jobs.rq_worker import HeartbeatWorker
from ml_backend.server.app import create_app
from ml_backend.tools.local_redis import LocalRedis, RedisNotInstalled
from tests.ml_backend.conftest import make_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server(tmp_path):
    try:
        local = LocalRedis(tmp_path / "redis").start()
    except RedisNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    yield local
    local.stop()


def _worker(url: str, queue: str, tmp_path: Path) -> subprocess.Popen:
    rq = str(Path(sys.executable).parent / "rq")
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - the worker keeps it
    return subprocess.Popen(
        [rq, "worker", "--url", url, "--worker-class", "ml_backend.jobs.rq_worker.HeartbeatWorker",
         queue],
        env={**os.environ, "JOB_HEARTBEAT_SECONDS": "1", "PYTHONPATH": str(ROOT)},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
    )  # fmt: skip


def test_a_dead_workers_job_is_requeued_within_three_heartbeats(server, tmp_path):
    connection = redis.Redis.from_url(server.url)
    queue = Queue("hb", connection=connection)
    job = queue.enqueue("time.sleep", 120, job_timeout=600, retry=Retry(max=2))
    worker = _worker(server.url, "hb", tmp_path)
    try:
        deadline = time.monotonic() + 60
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        registry = StartedJobRegistry(queue=queue)
        time.sleep(4)  # a live worker keeps renewing its entry
        registry.cleanup()
        assert job.get_status(refresh=True) == "started"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        killed = time.monotonic()
        while job.get_status(refresh=True) == "started":
            registry.cleanup()  # what every live worker's maintenance pass does
            assert time.monotonic() - killed < 10, "not re-queued within 3 beats (+ slack)"
            time.sleep(0.2)
        assert Job.fetch(job.id, connection=connection).retries_left == 1  # one retry spent
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)


def test_the_job_timeout_is_not_swallowed(server):
    connection = redis.Redis.from_url(server.url)
    queue = Queue("timeout", connection=connection)
    job = queue.enqueue("tests.ml_backend.jobs.rq_jobs.swallowing_sleep", 30, job_timeout=1)
    HeartbeatWorker([queue], connection=connection).work(burst=True)
    job = Job.fetch(job.id, connection=connection)
    assert job.get_status() == "failed"
    assert "JobTimeout" in (job.latest_result().exc_string or "")


def test_redis_down_holds_triggers_and_sends_them_when_it_is_back(server, tmp_path, monkeypatch):
    settings = make_settings(tmp_path, REDIS_URL=server.url, RQ_QUEUE="held",
                             LABEL_STUDIO_URL="http://ls.invalid", LABEL_STUDIO_API_KEY="k")  # fmt: skip
    monkeypatch.setattr("ml_backend.jobs.scheduler.REDIS_RETRY_SECONDS", 0.5)
    app = create_app(settings, preload=False)
    client, state = app.test_client(), app.extensions["fm_inspect"]
    port = server.port
    server.stop()

    health = client.get("/health").get_json()
    assert health["redis"]["ok"] is False and "unreachable" in health["redis"]["error"]
    for project in (12, 13):
        started = time.perf_counter()
        answer = client.post("/webhook", json={"action": "START_TRAINING", "project": project})
        assert answer.status_code == 200 and time.perf_counter() - started < 1.0
    assert state.scheduler.load()["held_for_redis"] == 2
    assert "Redis unreachable" in state.scheduler.records.read("12")["error"]

    back = LocalRedis(tmp_path / "redis-again", port=port).start()
    try:
        deadline = time.monotonic() + 20
        queue = Queue("held", connection=redis.Redis.from_url(back.url))
        while not {"train-12", "train-13"} <= set(queue.job_ids):
            assert time.monotonic() < deadline, "the held trigger never reached Redis"
            time.sleep(0.2)
        assert Job.fetch("train-12", connection=queue.connection).args == ("train", "12")
        assert state.scheduler.load()["held_for_redis"] == 0
        assert client.get("/health").get_json()["redis"] == {"ok": True}
        # a trigger while the round still waits in Redis joins it (no second job)
        client.post("/webhook", json={"action": "START_TRAINING", "project": 12})
        assert sorted(queue.job_ids) == ["train-12", "train-13"]
    finally:
        back.stop()
