"""When to train: debounced per project, never two trainings of a project at once.

``trigger(project, action)`` is all ``/webhook`` does, so it returns in microseconds:
- ``START_TRAINING`` (the "Start Training" button) trains at once;
- annotation events count up; a training starts after ``TRAIN_AFTER_ANNOTATIONS`` of them, or
  ``TRAIN_QUIET_SECONDS`` after the last one, whichever comes first.

Runners: by default a background thread of this process; with ``REDIS_URL`` the round is an RQ
job (``rq worker fm-inspect`` runs :func:`ml_backend.jobs.worker.run_job`) so that training
runs on other machines. Either way the round holds
the project's lock (:class:`ml_backend.jobs.records.ProjectLock`) and records its state in
``$MODEL_DIR/jobs``. A trigger that arrives during a round is not lost: another round follows.
A round that fails because Label Studio is unreachable is retried with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ml_backend.jobs.records import JobRecords, ProjectLock
from ml_backend.server import metrics
from ml_backend.training.trainer import LabelStudioUnavailable, TrainingSkipped, train_project

log = logging.getLogger(__name__)

ANNOTATION_EVENTS = frozenset(
    {"ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED"}
)
START_EVENTS = frozenset({"START_TRAINING"})
TRAINING_EVENTS = ANNOTATION_EVENTS | START_EVENTS


@dataclass
class _Pending:
    count: int = 0
    timer: threading.Timer | None = None
    running: bool = False
    again: bool = False
    retries: int = 0


def run_round(state, project: str) -> dict:
    """One training round under the project lock, with its record kept up to date."""
    settings = state.settings
    records = JobRecords(settings.model_dir / "jobs")
    lock = ProjectLock(settings.model_dir / "jobs", project, settings.redis_url)
    with lock.held() as got:
        if not got:
            log.info(
                "project %s is already training elsewhere; this trigger waits for the next round",
                project,
            )
            return {"state": "busy"}
        records.update(
            project,
            state="running",
            started_at=time.time(),
            stage="starting",
            progress=0.0,
            error=None,
        )
        started = time.perf_counter()
        try:
            summary = train_project(
                state, project, progress=lambda **f: records.update(project, **f)
            )
        except TrainingSkipped as exc:
            records.update(project, state="skipped", stage=str(exc), finished_at=time.time())
            metrics.TRAININGS.labels(result="skipped").inc()
            log.info("project %s: training skipped: %s", project, exc)
            return {"state": "skipped", "reason": str(exc)}
        except Exception as exc:
            log.error(
                "project %s: training failed; the previous version keeps serving: %s", project, exc
            )
            records.update(
                project,
                state="failed",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
                finished_at=time.time(),
            )
            metrics.TRAININGS.labels(result="failed").inc()
            raise
        metrics.TRAININGS.labels(result="succeeded").inc()
        metrics.TRAINING_SECONDS.observe(time.perf_counter() - started)
        records.update(
            project,
            state="succeeded",
            stage="done",
            progress=1.0,
            finished_at=time.time(),
            last_result=summary,
            error=None,
            live_version=summary["version"],
        )
        if settings.queue_ordering:  # never fails the round: the new version is live already
            from ml_backend.queue.order import run_queue_round

            summary["queue"] = run_queue_round(state, project)
            records.update(project, queue=summary["queue"])
        return {"state": "succeeded", **summary}


class TrainingScheduler:
    def __init__(self, state):
        self.state = state
        self.settings = state.settings
        self.records = JobRecords(self.settings.model_dir / "jobs")
        self._pending: dict[str, _Pending] = {}
        self._guard = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="train")
        self._queue = None
        if self.settings.redis_url:
            import redis
            from rq import Queue

            self._queue = Queue(
                self.settings.rq_queue, connection=redis.Redis.from_url(self.settings.redis_url)
            )

    # --------------------------------------------------------------------------- triggers
    def trigger(self, project: str, action: str) -> dict:
        with self._guard:
            pending = self._pending.setdefault(project, _Pending())
            if action in START_EVENTS:
                self._start_locked(project, pending, reason=action)
                return {"status": "training", "project": project}
            pending.count += 1
            if pending.count >= self.settings.train_after_annotations:
                self._start_locked(project, pending, reason=f"{pending.count} annotation events")
                return {"status": "training", "project": project}
            if self.settings.train_quiet_seconds > 0:
                self._arm_timer(project, pending, self.settings.train_quiet_seconds)
            return {
                "status": "queued",
                "project": project,
                "annotations_since_training": pending.count,
                "train_after": self.settings.train_after_annotations,
            }

    def _arm_timer(self, project: str, pending: _Pending, delay: float) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = threading.Timer(delay, self._quiet, args=(project,))
        pending.timer.daemon = True
        pending.timer.start()

    def _quiet(self, project: str) -> None:
        with self._guard:
            pending = self._pending.setdefault(project, _Pending())
            pending.timer = None
            self._start_locked(project, pending, reason="quiet period")

    def _start_locked(self, project: str, pending: _Pending, reason: str) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if pending.running:
            pending.again = True  # not lost: one more round after this one
            return
        pending.count = 0
        pending.running = True
        self.records.update(project, state="queued", reason=reason, queued_at=time.time())
        log.info("project %s: training round queued (%s)", project, reason)
        if self._queue is not None:
            self._queue.enqueue("ml_backend.jobs.worker.run_job", project, job_timeout=6 * 3600)
            pending.running = False
            return
        self._pool.submit(self._run, project)

    # --------------------------------------------------------------------------- runner
    def _run(self, project: str) -> None:
        retry_in = None
        try:
            run_round(self.state, project)
            with self._guard:
                self._pending[project].retries = 0
        except LabelStudioUnavailable:
            with self._guard:
                pending = self._pending[project]
                if pending.retries < self.settings.ls_retries:
                    pending.retries += 1
                    retry_in = max(1.0, self.settings.ls_retry_seconds) * 2**pending.retries
        except Exception:  # recorded by run_round; the previous version keeps serving
            pass
        finally:
            with self._guard:
                pending = self._pending[project]
                pending.running = False
                if pending.again:
                    pending.again = False
                    self._start_locked(
                        project, pending, reason="annotations arrived during the last round"
                    )
                elif retry_in is not None:
                    log.warning(
                        "project %s: Label Studio unreachable; next attempt in %.0fs",
                        project,
                        retry_in,
                    )
                    self.records.update(project, next_attempt_at=time.time() + retry_in)
                    self._arm_timer(project, pending, retry_in)

    # --------------------------------------------------------------------------- status
    def status(self) -> list[dict]:
        with self._guard:
            counts = {p: v.count for p, v in self._pending.items()}
        out = []
        for record in self.records.all():
            record = {k: v for k, v in record.items() if k != "traceback"}
            record["annotations_since_training"] = counts.get(str(record.get("project")), 0)
            out.append(record)
        return out

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """For tests and shutdown: wait until no round runs or is due."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._guard:
                busy = any(p.running or p.timer is not None for p in self._pending.values())
            if not busy:
                return True
            time.sleep(0.05)
        return False
