"""The one place jobs run: a bounded pool of threads here, or RQ workers with ``REDIS_URL``.

Every kind of job (a training round, a queue round, a bulk pre-label, one pre-label chunk) is a
name in :data:`ml_backend.jobs.registry.JOBS`, a plain function ``(state, *args)``. Without
``REDIS_URL`` :meth:`JobExecutor.submit` runs it on one of ``TRAIN_WORKERS`` threads of this
process; a job already waiting or running under the same key is not submitted twice. With
``REDIS_URL`` it becomes an RQ job on ``RQ_QUEUE`` that calls
:func:`ml_backend.jobs.worker.run` with the same name and arguments, in any ``rq worker``
process sharing ``MODEL_DIR``. Job state lives in the job records on disk either way
(:mod:`ml_backend.jobs.records`, :mod:`ml_backend.jobs.prelabel_records`), so ``/jobs`` and
``/health`` show one shape whatever ran the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

RQ_ENTRY = "ml_backend.jobs.worker.run"
ACTIVE_RQ_STATES = frozenset({"queued", "started", "scheduled", "deferred"})
#: a Redis that does not answer must not hold up a webhook: connect and read timeouts (s)
REDIS_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}


def redis_connection(url: str):
    import redis

    return redis.Redis.from_url(url, **REDIS_TIMEOUTS)


def redis_status(url: str) -> dict:
    """``{"ok": bool, "error": ...}`` within half a second: for /health."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return {"ok": True}
    except Exception as exc:
        return {
            "ok": False,
            "error": f"Redis at REDIS_URL is unreachable: {type(exc).__name__}: {exc}. Jobs "
            "cannot be queued until it is back; the scheduler keeps the triggers and sends "
            "them then.",
        }


def _outcome(future: Future) -> tuple[Any, BaseException | None]:
    exc = future.exception()
    return (None, exc) if exc is not None else (future.result(), None)


class JobExecutor:
    def __init__(self, state, jobs: dict[str, Callable[..., Any]]):
        self.state = state
        self.settings = state.settings
        self.jobs = jobs
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.train_workers, thread_name_prefix="job"
        )
        self._active: dict[str, Future] = {}
        self._guard = threading.Lock()
        self._queue = None

    @property
    def uses_rq(self) -> bool:
        return bool(self.settings.redis_url)

    def queue(self):
        if self._queue is None:
            from rq import Queue

            connection = redis_connection(self.settings.redis_url)
            self._queue = Queue(self.settings.rq_queue, connection=connection)
        return self._queue

    # ------------------------------------------------------------------- submit
    def submit(
        self,
        name: str,
        *args: Any,
        key: str | None = None,
        on_done: Callable[[Any, BaseException | None], None] | None = None,
        **rq_options: Any,
    ) -> str:
        """Run job ``name`` with ``args``; returns its key (the RQ job id with Redis).

        Threads: a job whose key is waiting or running is not submitted again; ``on_done(result,
        exception)`` is called when it ends. RQ: an active job with that id is left alone;
        ``rq_options`` go to ``Queue.enqueue`` (``retry``, ``job_timeout``, ``depends_on`` ...).
        Raises when Redis is unreachable."""
        if name not in self.jobs:
            raise KeyError(f"no job kind {name!r}; known: {sorted(self.jobs)}")
        key = key or "-".join([name, *map(str, args)])
        if self.uses_rq:
            return self._enqueue(name, args, key, rq_options)
        with self._guard:
            running = self._active.get(key)
            if running is not None and not running.done():
                return key
            future = self._pool.submit(self._call, key, name, args)
            self._active[key] = future
        if on_done is not None:  # called once the future is done: a resubmit is not coalesced
            future.add_done_callback(lambda f: on_done(*_outcome(f)))
        return key

    def _enqueue(self, name: str, args: tuple, key: str, options: dict) -> str:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        queue = self.queue()
        try:
            if Job.fetch(key, connection=queue.connection).get_status() in ACTIVE_RQ_STATES:
                return key  # already waiting or running
        except NoSuchJobError:
            pass
        options = {"result_ttl": 24 * 3600, "failure_ttl": 7 * 24 * 3600, **options}
        queue.enqueue(RQ_ENTRY, name, *args, job_id=key, **options)
        return key

    def _call(self, key: str, name: str, args: tuple) -> Any:
        try:
            return self.jobs[name](self.state, *args)
        except BaseException:  # recorded by the job itself; on_done gets it
            log.exception("job %s failed", key)
            raise

    # ------------------------------------------------------------------- status
    def busy(self, key: str) -> bool:
        """Whether job ``key`` waits or runs in this process's threads."""
        with self._guard:
            future = self._active.get(key)
            return future is not None and not future.done()

    def threads(self) -> int:
        """Threads of the pool (bounded by TRAIN_WORKERS)."""
        return len(self._pool._threads)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
