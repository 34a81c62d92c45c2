"""What follows a successful training round, as jobs of the one job system.

1. **re-prediction**: a bulk pre-label job (:mod:`ml_backend.jobs.prelabel`) of the project's
   unlabeled tasks with the new version: chunked, idempotent, resumable like every pre-label;
2. **queue round** (``QUEUE_ORDERING``): :func:`queue_job`, after the re-prediction so that it
   reuses the full pre-labels it stored.

In threads both run here, one after the other (this already is a job thread). With Redis the
chunks are RQ jobs spread over the workers and the queue round is an RQ job that waits for them
(``depends_on``, failures allowed: a broken chunk must not cost the new order).
"""

from __future__ import annotations

import logging

from ml_backend.jobs import prelabel
from ml_backend.jobs.records import JobRecords, ProjectLock

log = logging.getLogger(__name__)


def _repredict(state, project: str) -> tuple[dict, list[str]]:
    """Start the re-prediction; ``(its record for the round, RQ ids of its chunks)``."""
    try:
        job = prelabel.plan(state, int(project), "unlabeled")
        if state.jobs.uses_rq:
            keys = state.prelabel.enqueue(job["id"])
            return {"job": job["id"], "state": "queued", "chunks": len(keys)}, keys
        done = state.prelabel.run_chunks(job["id"])
        return {"job": job["id"], "state": done["state"], "counts": done["counts"]}, []
    except Exception as exc:  # the new version is live already: the round stays a success
        log.error("project %s: re-prediction not started: %s", project, exc)
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}, []


def after_training(state, project: str, version: str) -> dict:
    """Run or queue the follow-up jobs of a round that made ``version`` live."""
    settings = state.settings
    records = JobRecords(settings.model_dir / "jobs")
    out: dict = {}
    chunk_keys: list[str] = []
    if settings.repredict_after_training:
        records.update(project, stage="re-predicting unlabeled tasks")
        out["repredict"], chunk_keys = _repredict(state, project)
        counts = out["repredict"].get("counts") or {}
        out["predictions_pushed"] = counts.get("pushed", 0)
    if settings.queue_ordering:
        if state.jobs.uses_rq:
            from rq.job import Dependency

            depends = Dependency(jobs=chunk_keys, allow_failure=True) if chunk_keys else None
            key = state.jobs.submit(
                "queue", project, key=f"queue-{project}-{version}", depends_on=depends,
                job_timeout=3 * 3600,
            )  # fmt: skip
            out["queue"] = {"state": "queued", "job": key}
        else:
            records.update(project, stage="queue round")
            out["queue"] = queue_job(state, project)
    records.update(project, **out)
    return out


def queue_job(state, project: str) -> dict:
    """The ``queue`` job: one queue round under the project lock; never raises (the previous
    order stays on failure) and records its result in the project's record."""
    from ml_backend.queue.order import run_queue_round

    settings = state.settings
    lock = ProjectLock(settings.model_dir / "jobs", str(project), settings.redis_url)
    with lock.held() as got:
        if not got:
            return {"state": "skipped", "reason": "the project is training; the next round orders"}
        result = run_queue_round(state, str(project))
    JobRecords(settings.model_dir / "jobs").update(str(project), queue=result)
    return result
