"""Where the chunks of a bulk job run.

Without ``REDIS_URL``: one job thread of this process runs the chunks in order; a chunk
that fails because Label Studio is unreachable is tried again after a back-off that doubles
(``LS_RETRY_SECONDS``), up to ``LS_RETRIES`` times, then the job stops as ``failed`` and the
next start of the same job continues it.

Both go through the one job executor (:mod:`ml_backend.jobs.executor`): the whole job is the
``prelabel`` job on one of its threads, or every chunk is a ``chunk`` RQ job on ``RQ_QUEUE``
(any number of ``rq worker`` processes on any machines sharing MODEL_DIR) with RQ retries and
back-off. A worker that dies mid-chunk (SIGKILL, lost machine) stops its heartbeat
(:class:`ml_backend.jobs.rq_worker.HeartbeatWorker`); within three beats its job's entry in
RQ's started registry expires, the next maintenance pass of a live worker finds it abandoned
and re-queues it (it has retries left), and another worker runs the chunk again; the chunk
checks what Label Studio already holds first, so nothing is duplicated.
"""

from __future__ import annotations

import logging
import time

from ml_backend.jobs import prelabel
from ml_backend.jobs.executor import redis_status
from ml_backend.labelstudio.retries import LabelStudioUnavailable

log = logging.getLogger(__name__)

__all__ = ["RQ_WORKER_OPTIONS", "PrelabelRunner", "redis_status"]

# how every worker is started (docker-compose.yml, the tests, the docs): HeartbeatWorker is a
# SimpleWorker (no fork per job, so a worker loads its models once) whose heartbeat lets a dead
# worker's job be re-queued within 3 x JOB_HEARTBEAT_SECONDS; the scheduler runs the retries'
# back-off; a short worker TTL makes an idle worker wake up every 15 s for maintenance, which
# re-queues abandoned jobs
RQ_WORKER_OPTIONS = ["--worker-class", "ml_backend.jobs.rq_worker.HeartbeatWorker",
                     "--with-scheduler", "--worker-ttl", "30", "--maintenance-interval", "15"]  # fmt: skip


class PrelabelRunner:
    def __init__(self, state):
        self.state = state
        self.settings = state.settings
        self.records = prelabel.records_for(state)

    def start(self, project: int, mode: str = "unlabeled", version: str | None = None) -> dict:
        summary = prelabel.plan(self.state, project, mode, version)
        job_id = summary["id"]
        if self.state.jobs.uses_rq:
            self.enqueue(job_id)
        else:
            self.state.jobs.submit("prelabel", job_id, key=job_id)
        return self.records.summary(job_id)

    # ------------------------------------------------------------------- RQ
    def enqueue(self, job_id: str) -> list[str]:
        """Every unfinished chunk as an RQ job (one already waiting or running is left alone);
        returns their RQ job ids."""
        from rq import Retry

        base = max(1, int(self.settings.ls_retry_seconds))
        retry = Retry(max=self.settings.ls_retries, interval=[base * 2**i for i in range(6)])
        keys = []
        for index in self.records.unfinished(job_id):
            keys.append(self.state.jobs.submit(
                "chunk", job_id, index, key=f"{job_id}-chunk-{index:05d}", retry=retry,
                job_timeout=self.settings.prelabel_chunk_timeout))  # fmt: skip
        self.records.update_meta(job_id, state="running", runner="rq", enqueued=len(keys))
        return keys

    # ------------------------------------------------------------------- threads
    def run_chunks(self, job_id: str, on_chunk=None) -> dict:
        """Run every unfinished chunk here, in order (the CLI without Redis, and the thread)."""
        self.records.update_meta(job_id, state="running", runner="thread")
        for index in self.records.unfinished(job_id):
            delay = max(0.5, self.settings.ls_retry_seconds)
            for attempt in range(self.settings.ls_retries + 1):
                try:
                    done = prelabel.run_chunk(self.state, job_id, index)
                    break
                except LabelStudioUnavailable as exc:
                    if attempt == self.settings.ls_retries:
                        self.records.update_meta(job_id, state="failed", error=str(exc))
                        return self.records.summary(job_id)
                    log.warning("pre-label %s: Label Studio unreachable; chunk %d again in %.0fs",
                                job_id, index, delay)  # fmt: skip
                    time.sleep(delay)
                    delay *= 2
                except Exception:
                    log.exception("pre-label %s: chunk %d failed", job_id, index)
                    done = self.records.chunk(job_id, index)
                    break
            if on_chunk is not None:
                on_chunk(done)
        self.records.update_meta(job_id, state="finished")
        return self.records.summary(job_id)

    # ------------------------------------------------------------------- status
    def jobs(self) -> list[dict]:
        return self.records.all()

    def job(self, job_id: str) -> dict:
        return self.records.summary(job_id, with_errors=True)

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summary = self.records.summary(job_id)
            busy = self.state.jobs.busy(job_id)
            if not busy and summary.get("state") in {"succeeded", "failed"}:
                return summary
            time.sleep(poll)
        return self.records.summary(job_id)
