"""Every kind of job, by name: what :class:`ml_backend.jobs.executor.JobExecutor` runs in a
thread and :func:`ml_backend.jobs.worker.run` runs in an ``rq worker``. Each is ``(state, *args)``."""

from __future__ import annotations

from ml_backend.jobs.followups import queue_job
from ml_backend.jobs.prelabel import run_chunk
from ml_backend.jobs.scheduler import train_job
from ml_backend.queue.rounds import prune_rounds_job


def _prelabel(state, job_id: str) -> dict:
    return state.prelabel.run_chunks(job_id)


def _chunk(state, job_id: str, index: int) -> dict:
    result = run_chunk(state, job_id, index)
    return {k: result.get(k) for k in ("index", "state", "pushed", "skipped", "failed")}


JOBS = {
    "train": train_job,  # a training round, then its follow-ups
    "queue": queue_job,  # a queue round
    "prelabel": _prelabel,  # every chunk of a pre-label job, in this thread
    "chunk": _chunk,  # one pre-label chunk (RQ)
    "prune-rounds": prune_rounds_job,  # delete the queue rounds before the one in force
}
