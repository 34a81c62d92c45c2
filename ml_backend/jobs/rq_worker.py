"""The RQ worker class every ``rq worker`` of fm-inspect runs (``--worker-class
ml_backend.jobs.rq_worker.HeartbeatWorker``).

A ``SimpleWorker`` (no fork per job, so models load once per process) with two changes:

- **heartbeat**: while a job runs, a thread renews the job's entry in RQ's started registry
  every ``JOB_HEARTBEAT_SECONDS`` for three beats. A worker that dies (SIGKILL, a lost machine)
  stops renewing, so its entry expires within three beats, and the next maintenance pass of any
  live worker finds the job abandoned and re-queues it (it has retries left). A plain
  ``SimpleWorker`` registers the job for its whole timeout, so a dead worker's chunk waited
  ``PRELABEL_CHUNK_TIMEOUT``.
- **a timeout nobody swallows**: RQ raises its job timeout inside the job's code; code that
  keeps one bad image from failing a batch (``except Exception``) caught it and the job ran on.
  Here the timeout is :class:`JobTimeout`, a ``BaseException``, so it reaches RQ, which fails
  (and retries) the job.
"""

from __future__ import annotations

import logging
import os
import threading

from rq.timeouts import UnixSignalDeathPenalty
from rq.worker import SimpleWorker

log = logging.getLogger(__name__)

MISSED_BEATS = 3


class JobTimeout(BaseException):
    """The job ran past its RQ timeout (a BaseException: ``except Exception`` lets it pass)."""


class _Timeout(UnixSignalDeathPenalty):
    def handle_death_penalty(self, signum, frame):
        raise JobTimeout(f"the job ran past its timeout of {self._timeout} s")


def beat_seconds() -> int:
    try:
        return max(1, int(os.environ.get("JOB_HEARTBEAT_SECONDS", "10")))
    except ValueError:
        return 10


class HeartbeatWorker(SimpleWorker):
    death_penalty_class = _Timeout

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return MISSED_BEATS * beat_seconds()

    def execute_job(self, job, queue):
        from rq.worker import WorkerStatus

        execution = self.prepare_execution(job)
        stop = threading.Event()
        beating = threading.Thread(
            target=self._beat, args=(job, execution, stop), name="rq-heartbeat", daemon=True
        )
        beating.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beating.join(5)
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job, execution, stop: threading.Event) -> None:
        while not stop.wait(beat_seconds()):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                log.warning("heartbeat of job %s failed: %s", job.id, exc)
