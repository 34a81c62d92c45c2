"""Job records on disk (``$MODEL_DIR/jobs/<project>.json``): what is training, how far it got,
what failed. Every worker process (and RQ workers on other machines sharing MODEL_DIR) reads the
same files, so ``/health`` tells the truth whichever process answers.

Also the per-project training lock: at most one training of a project at a time, across threads
and processes (``fcntl`` lock on a file in the same folder, or a Redis lock with ``REDIS_URL``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model_zoo.storage.atomic import write_text_atomic


class JobRecords:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._guard = threading.Lock()

    def path(self, project: str) -> Path:
        return self.root / f"project-{project}.json"

    def read(self, project: str) -> dict[str, Any]:
        try:
            return json.loads(self.path(project).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def update(self, project: str, **fields: Any) -> dict[str, Any]:
        with self._guard:
            record = {**self.read(project), **fields, "project": project, "updated_at": time.time()}
            write_text_atomic(self.path(project), json.dumps(record, indent=2, default=str))
            return record

    def all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.glob("project-*.json")):
            with contextlib.suppress(OSError, json.JSONDecodeError):
                out.append(json.loads(path.read_text()))
        return out


class ProjectLock:
    """Non-blocking exclusive lock per project; ``acquire()`` returns False when it is held."""

    def __init__(self, root: str | os.PathLike, project: str, redis_url: str = ""):
        self.root = Path(root)
        self.project = project
        self.redis_url = redis_url
        self._fh = None
        self._redis_lock = None

    def acquire(self) -> bool:
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            self._redis_lock = client.lock(f"fm-inspect:train:{self.project}", timeout=6 * 3600)
            return bool(self._redis_lock.acquire(blocking=False))
        self.root.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.root / f"project-{self.project}.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            return False
        return True

    def release(self) -> None:
        if self._redis_lock is not None:
            with contextlib.suppress(Exception):
                self._redis_lock.release()
            self._redis_lock = None
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @contextlib.contextmanager
    def held(self) -> Iterator[bool]:
        got = self.acquire()
        try:
            yield got
        finally:
            if got:
                self.release()
