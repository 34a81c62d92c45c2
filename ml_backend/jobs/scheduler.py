"""When to train: debounced per project, bounded, never two trainings of a project at once.

``trigger(project, action)`` is all ``/webhook`` does, so it returns in microseconds and never
waits for Redis or Label Studio:
- ``START_TRAINING`` (the "Start Training" button) trains at once;
- annotation events count up; a training starts after ``TRAIN_AFTER_ANNOTATIONS`` of them, or
  ``TRAIN_QUIET_SECONDS`` after the last one, whichever comes first.

Bounded: one table of at most ``TRAIN_MAX_PENDING`` projects (counting, waiting or training;
an event for one more raises :class:`SchedulerFull`, answered 429), one clock thread for every
quiet period and back-off (no timer thread per project), and the rounds run through the job
executor (:mod:`ml_backend.jobs.executor`): ``TRAIN_WORKERS`` threads, or RQ workers with
``REDIS_URL``. A project id that is not a Label Studio id is refused before it costs anything
(:class:`InvalidProject`, answered 400); a project Label Studio does not know (404) is
remembered for a while and its events are ignored.

Retries: a round that failed because Label Studio was unreachable (connection errors, 5xx) is
tried again with back-off, up to ``LS_RETRIES`` times; a local error (bad data, a bug, a full
disk) is recorded and never retried. Whatever happens the project leaves the ``running`` state
when its round ends, so it trains again on the next trigger. A trigger that arrives during a
round is not lost: another round follows. With ``REDIS_URL``, a trigger that cannot be sent
because Redis is down is kept and sent again every few seconds until Redis is back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
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
PROJECT_ID = re.compile(r"[1-9][0-9]{0,11}")
#: how long a project Label Studio answered 404 for is ignored (s)
UNKNOWN_SECONDS = 600.0
#: how often a trigger held while Redis is down is sent again (s)
REDIS_RETRY_SECONDS = 5.0


class InvalidProject(ValueError):
    """Not a Label Studio project id (a positive integer)."""


class SchedulerFull(RuntimeError):
    """TRAIN_MAX_PENDING projects are waiting or training already."""


class ProjectBusy(RuntimeError):
    """The project trains in another process right now; the round is tried again later."""


def valid_project(project) -> str:
    text = str(project) if isinstance(project, (int, str)) and not isinstance(project, bool) else ""
    if not PROJECT_ID.fullmatch(text):
        raise InvalidProject(
            f"project id must be a Label Studio project id (a positive integer), not {project!r}"
        )
    return text


@dataclass
class _Pending:
    count: int = 0
    due: float | None = None  # time.monotonic() at which a round starts (quiet period, back-off)
    reason: str = ""
    running: bool = False
    again: bool = False
    retries: int = 0
    unsent: bool = False  # RQ: not in Redis yet (Redis was down)


def _record_failure(records: JobRecords, project: str, exc: BaseException) -> None:
    records.update(
        project,
        state="failed",
        error=f"{type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(limit=8),
        finished_at=time.time(),
    )
    metrics.TRAININGS.labels(result="failed").inc()


def run_round(state, project: str) -> dict:
    """One training round under the project lock, with its record kept up to date; then the
    follow-up jobs (re-prediction, queue round) through the job executor."""
    from ml_backend.jobs.followups import after_training

    settings = state.settings
    project = valid_project(project)
    records = JobRecords(settings.model_dir / "jobs")
    lock = ProjectLock(settings.model_dir / "jobs", project, settings.redis_url)
    with lock.held() as got:
        if not got:
            log.info("project %s is already training elsewhere; the round is tried later", project)
            return {"state": "busy"}
        records.update(project, kind="train", state="running", started_at=time.time(),
                       stage="starting", progress=0.0, error=None, next_attempt_at=None)  # fmt: skip
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
        except BaseException as exc:  # also a job timeout: the project must not stay "running"
            log.error("project %s: training failed; the previous version serves: %s", project, exc)
            _record_failure(records, project, exc)
            raise
        metrics.TRAININGS.labels(result="succeeded").inc()
        metrics.TRAINING_SECONDS.observe(time.perf_counter() - started)
        records.update(project, progress=0.9, live_version=summary["version"], error=None)
    try:  # the version is live: nothing after this fails the round
        summary.update(after_training(state, project, summary["version"]))
    except Exception as exc:  # e.g. Redis gone while queueing the follow-ups
        log.error("project %s: follow-up jobs not started: %s", project, exc)
        summary["followups_error"] = f"{type(exc).__name__}: {exc}"
    records.update(project, state="succeeded", stage="done", progress=1.0,
                   finished_at=time.time(), last_result=summary)  # fmt: skip
    return {"state": "succeeded", **summary}


def train_job(state, project: str) -> dict:
    """The ``train`` job: only Label Studio outages and a busy project raise (and are retried,
    by the scheduler or by RQ); any other failure is recorded and returned."""
    try:
        result = run_round(state, project)
    except LabelStudioUnavailable:
        raise
    except Exception as exc:
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}",
                "status_code": getattr(exc, "status_code", None)}  # fmt: skip
    if result.get("state") == "busy":
        raise ProjectBusy(f"project {project} is training in another process")
    return result


class TrainingScheduler:
    def __init__(self, state):
        self.state = state
        self.settings = state.settings
        self.records = JobRecords(self.settings.model_dir / "jobs")
        self._pending: dict[str, _Pending] = {}
        self._unknown: dict[str, float] = {}
        self._cond = threading.Condition()
        self._clock: threading.Thread | None = None
        self._redis_down_until = 0.0  # after a failed send, hold triggers without trying
        self.rejected = 0

    # --------------------------------------------------------------------------- triggers
    def trigger(self, project, action: str) -> dict:
        project = valid_project(project)
        with self._cond:
            if self._unknown.get(project, 0.0) > time.monotonic():
                return {"status": "ignored", "project": project,
                        "reason": "Label Studio answered 404 for this project recently"}  # fmt: skip
            pending = self._pending.get(project)
            if pending is None:
                if len(self._pending) >= self.settings.train_max_pending:
                    self.rejected += 1
                    raise SchedulerFull(
                        f"{len(self._pending)} projects are waiting or training already "
                        f"(TRAIN_MAX_PENDING={self.settings.train_max_pending}); send the event "
                        "again later"
                    )
                pending = self._pending[project] = _Pending()
            if action in START_EVENTS:
                self._start_locked(project, pending, reason=action)
                return {"status": "training", "project": project}
            pending.count += 1
            if pending.count >= self.settings.train_after_annotations:
                self._start_locked(project, pending, reason=f"{pending.count} annotation events")
                return {"status": "training", "project": project}
            if self.settings.train_quiet_seconds > 0:
                self._due_locked(pending, self.settings.train_quiet_seconds, "quiet period")
            return {
                "status": "queued",
                "project": project,
                "annotations_since_training": pending.count,
                "train_after": self.settings.train_after_annotations,
            }

    def _due_locked(self, pending: _Pending, delay: float, reason: str) -> None:
        pending.due, pending.reason = time.monotonic() + delay, reason
        if self._clock is None:
            self._clock = threading.Thread(target=self._tick, name="train-clock", daemon=True)
            self._clock.start()
        self._cond.notify_all()

    def _tick(self) -> None:
        """The one clock thread: starts every round whose quiet period or back-off is over."""
        with self._cond:
            while True:
                now = time.monotonic()
                for project, pending in list(self._pending.items()):
                    if pending.due is not None and pending.due <= now:
                        self._start_locked(project, pending, reason=pending.reason)
                dues = [p.due for p in self._pending.values() if p.due is not None]
                self._cond.wait(max(0.01, min(dues) - now) if dues else None)

    def _start_locked(self, project: str, pending: _Pending, reason: str) -> None:
        pending.due = None
        if pending.running:
            pending.again = True  # not lost: one more round after this one
            return
        pending.count = 0
        self.records.update(project, kind="train", state="queued", reason=reason,
                            queued_at=time.time())  # fmt: skip
        log.info("project %s: training round queued (%s)", project, reason)
        if self.state.jobs.uses_rq:
            self._send_locked(project, pending)
            return
        pending.running = True
        try:
            self.state.jobs.submit("train", project, key=f"train-{project}",
                                   on_done=lambda result, exc: self._finished(project, result, exc))  # fmt: skip
        except BaseException:
            pending.running = False
            raise

    def _send_locked(self, project: str, pending: _Pending) -> None:
        """RQ: put the round in Redis; if Redis is down, keep it and try again soon."""
        from rq import Retry

        base = max(1, int(self.settings.ls_retry_seconds))
        try:
            by_clock = threading.current_thread() is self._clock  # the clock tries every time
            if not by_clock and time.monotonic() < self._redis_down_until:
                raise ConnectionError("Redis did not answer a moment ago")  # no webhook waits
            self.state.jobs.submit("train", project, key=self._rq_key(project),
                                   job_timeout=6 * 3600, retry=Retry(max=self.settings.ls_retries,
                                   interval=[base * 2**i for i in range(6)]))  # fmt: skip
        except Exception as exc:  # redis.ConnectionError, TimeoutError ...
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            pending.unsent = True
            self._due_locked(pending, REDIS_RETRY_SECONDS, "sent again once Redis is back")
            self.records.update(project, state="queued", error=f"Redis unreachable, the round "
                                f"is sent when it is back: {type(exc).__name__}: {exc}")  # fmt: skip
            log.warning("project %s: Redis unreachable; round held: %s", project, exc)
            return
        pending.unsent, self._redis_down_until = False, 0.0
        if pending.count == 0:
            del self._pending[project]  # RQ holds it now; the slot is free again

    def _rq_key(self, project: str) -> str:
        """``train-<p>`` unless that round runs already; then ``train-<p>-next`` (a trigger that
        arrives during a round gets one more round; more triggers join the waiting one)."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        key = f"train-{project}"
        try:
            status = Job.fetch(key, connection=self.state.jobs.queue().connection).get_status()
        except NoSuchJobError:
            return key
        return f"{key}-next" if status == "started" else key

    def _finished(self, project: str, result, exc: BaseException | None) -> None:
        """Threads: the round ended (``result`` or ``exc``); free the slot or plan what follows."""
        retry_in = None
        with self._cond:
            pending = self._pending.setdefault(project, _Pending())
            pending.running = False
            if isinstance(exc, (LabelStudioUnavailable, ProjectBusy)):
                if pending.retries < self.settings.ls_retries:
                    pending.retries += 1
                    retry_in = max(1.0, self.settings.ls_retry_seconds) * 2**pending.retries
            else:
                pending.retries = 0
            if isinstance(result, dict) and result.get("status_code") == 404:
                self._unknown[project] = time.monotonic() + UNKNOWN_SECONDS
            if pending.again:
                pending.again = False
                self._start_locked(project, pending, "annotations arrived during the last round")
            elif retry_in is not None:
                log.warning("project %s: %s; next attempt in %.0fs", project, exc, retry_in)
                self.records.update(project, next_attempt_at=time.time() + retry_in)
                self._due_locked(pending, retry_in, "retry after a Label Studio outage")
            elif pending.count == 0 and pending.due is None:
                del self._pending[project]

    # --------------------------------------------------------------------------- status
    def status(self) -> list[dict]:
        with self._cond:
            counts = {p: v.count for p, v in self._pending.items()}
        out = []
        for record in self.records.all():
            record = {k: v for k, v in record.items() if k != "traceback"}
            record["annotations_since_training"] = counts.get(str(record.get("project")), 0)
            out.append(record)
        return out

    def load(self) -> dict:
        """How full the scheduler is: for /health."""
        with self._cond:
            return {
                "projects": len(self._pending),
                "running": sum(p.running for p in self._pending.values()),
                "held_for_redis": sum(p.unsent for p in self._pending.values()),
                "max_pending": self.settings.train_max_pending,
                "workers": self.settings.train_workers,
                "rejected": self.rejected,
            }

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """For tests and shutdown: wait until no round runs or is due."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                busy = any(p.running or p.due is not None for p in self._pending.values())
            if not busy:
                return True
            time.sleep(0.05)
        return False
