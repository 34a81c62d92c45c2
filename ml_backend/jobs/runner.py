"""Where the chunks of a bulk job run.

Without ``REDIS_URL``: one background thread of this process runs the chunks in order; a chunk
that fails because Label Studio is unreachable is tried again after a back-off that doubles
(``LS_RETRY_SECONDS``), up to ``LS_RETRIES`` times, then the job stops as ``failed`` and the
next start of the same job continues it.

With ``REDIS_URL``: every chunk is an RQ job on ``RQ_QUEUE`` (``rq worker --with-scheduler``,
any number of processes on any machines sharing MODEL_DIR) with RQ retries and back-off. A
worker that dies mid-chunk (SIGKILL, lost machine) leaves its job in RQ's started registry until
``PRELABEL_CHUNK_TIMEOUT`` has passed; the next maintenance pass of a live worker then finds it
abandoned and re-queues it (it has retries left), and another worker runs the chunk again; the chunk checks what Label Studio already holds
first, so nothing is duplicated.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ml_backend.jobs import prelabel
from ml_backend.training.trainer import LabelStudioUnavailable

log = logging.getLogger(__name__)

# how every worker is started (docker-compose.yml, the tests, the docs): no fork per job, so a
# worker loads its models once; the scheduler runs the retries' back-off; a short worker TTL
# makes an idle worker wake up every 15 s for maintenance, which re-queues abandoned chunks
RQ_WORKER_OPTIONS = ["--worker-class", "rq.worker.SimpleWorker", "--with-scheduler",
                     "--worker-ttl", "30", "--maintenance-interval", "15"]  # fmt: skip
RQ_CHUNK_FUNCTION = "ml_backend.jobs.worker.run_chunk_job"
ACTIVE_RQ_STATES = {"queued", "started", "scheduled", "deferred"}


def redis_status(url: str) -> dict:
    """``{"ok": bool, "error": ...}`` within half a second: for /health."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return {"ok": True}
    except Exception as exc:
        return {
            "ok": False,
            "error": f"Redis at REDIS_URL is unreachable: {type(exc).__name__}: {exc}",
        }


class PrelabelRunner:
    def __init__(self, state):
        self.state = state
        self.settings = state.settings
        self.records = prelabel.records_for(state)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prelabel")
        self._active: set[str] = set()
        self._guard = threading.Lock()

    def _queue(self):
        import redis
        from rq import Queue

        connection = redis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=2)
        return Queue(self.settings.rq_queue, connection=connection)

    def start(self, project: int, mode: str = "unlabeled", version: str | None = None) -> dict:
        summary = prelabel.plan(self.state, project, mode, version)
        job_id = summary["id"]
        if self.settings.redis_url:
            self.enqueue(job_id)
        else:
            with self._guard:
                if job_id not in self._active:
                    self._active.add(job_id)
                    self._pool.submit(self._run_inline, job_id)
        return self.records.summary(job_id)

    # ------------------------------------------------------------------- RQ
    def enqueue(self, job_id: str) -> int:
        from rq import Retry
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        queue = self._queue()
        base = max(1, int(self.settings.ls_retry_seconds))
        retry = Retry(max=self.settings.ls_retries, interval=[base * 2**i for i in range(6)])
        sent = 0
        for index in self.records.unfinished(job_id):
            rq_id = f"{job_id}-chunk-{index:05d}"
            try:
                if Job.fetch(rq_id, connection=queue.connection).get_status() in ACTIVE_RQ_STATES:
                    continue  # already waiting or running
            except NoSuchJobError:
                pass
            queue.enqueue(RQ_CHUNK_FUNCTION, job_id, index, job_id=rq_id, retry=retry,
                          job_timeout=self.settings.prelabel_chunk_timeout, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)  # fmt: skip
            sent += 1
        self.records.update_meta(job_id, state="running", runner="rq", enqueued=sent)
        return sent

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

    def _run_inline(self, job_id: str) -> None:
        try:
            self.run_chunks(job_id)
        finally:
            with self._guard:
                self._active.discard(job_id)

    # ------------------------------------------------------------------- status
    def jobs(self) -> list[dict]:
        return self.records.all()

    def job(self, job_id: str) -> dict:
        return self.records.summary(job_id, with_errors=True)

    def wait(self, job_id: str, timeout: float = 600.0, poll: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summary = self.records.summary(job_id)
            busy = job_id in self._active
            if not busy and summary.get("state") in {"succeeded", "failed"}:
                return summary
            time.sleep(poll)
        return self.records.summary(job_id)
