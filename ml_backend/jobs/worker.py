"""The RQ jobs: what an ``rq worker fm-inspect`` process runs (a training round, a pre-label chunk)."""

from __future__ import annotations

from ml_backend.jobs.prelabel import run_chunk
from ml_backend.jobs.scheduler import run_round
from ml_backend.settings import Settings
from ml_backend.state import BackendState


def run_job(project: str) -> dict:
    """RQ entry point: build the backend state in the worker process and run one round."""
    state = BackendState(Settings.from_env())
    return run_round(state, project)


_CHUNK_STATE: BackendState | None = None


def run_chunk_job(job_id: str, index: int) -> dict:
    """RQ entry point for one pre-label chunk; with ``SimpleWorker`` the models load once per
    worker process and stay for its next chunks."""
    global _CHUNK_STATE
    if _CHUNK_STATE is None:
        _CHUNK_STATE = BackendState(Settings.from_env())
    result = run_chunk(_CHUNK_STATE, job_id, index)
    return {k: result.get(k) for k in ("index", "state", "pushed", "skipped", "failed")}
