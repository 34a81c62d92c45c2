"""The RQ side of the job system: what an ``rq worker fm-inspect`` process runs.

Every job is ``run(name, *args)``: the job ``name`` of :data:`ml_backend.jobs.registry.JOBS`
with the backend state of this worker process, built once (with ``SimpleWorker`` or
:class:`ml_backend.jobs.rq_worker.HeartbeatWorker` the models stay loaded between jobs).
"""

from __future__ import annotations

from ml_backend.jobs.registry import JOBS
from ml_backend.settings import Settings
from ml_backend.state import BackendState

_STATE: BackendState | None = None


def worker_state() -> BackendState:
    global _STATE
    if _STATE is None:
        _STATE = BackendState(Settings.from_env())
    return _STATE


def run(name: str, *args):
    return JOBS[name](worker_state(), *args)


def run_job(project: str) -> dict:
    """Training round (the entry point of jobs queued before ``run`` existed)."""
    return run("train", project)


def run_chunk_job(job_id: str, index: int) -> dict:
    """Pre-label chunk (the entry point of jobs queued before ``run`` existed)."""
    return run("chunk", job_id, index)
