"""The RQ job: what an ``rq worker fm-inspect`` process runs for one training round."""

from __future__ import annotations

from ml_backend.jobs.scheduler import run_round
from ml_backend.settings import Settings
from ml_backend.state import BackendState


def run_job(project: str) -> dict:
    """RQ entry point: build the backend state in the worker process and run one round."""
    state = BackendState(Settings.from_env())
    return run_round(state, project)
