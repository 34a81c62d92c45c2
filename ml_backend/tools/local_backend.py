"""Run the backend under gunicorn as a child process (the demo and the integration tests).

``LocalBackend(env, log_path).start()`` runs ``gunicorn -c ml_backend/server/gunicorn.conf.py
ml_backend.server.wsgi:app`` from the repository root on 127.0.0.1, waits for ``GET /health`` and
``stop()`` ends its whole process group.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ml_backend.tools.local_label_studio import find_free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalBackend:
    """Our backend under gunicorn (``ml_backend.server.wsgi:app``), in its own process group."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=find_free_port)
    repo_root: Path = REPO_ROOT
    gunicorn: Path = field(default_factory=lambda: Path(sys.executable).with_name("gunicorn"))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str] | None:
        user, password = self.env.get("BASIC_AUTH_USER"), self.env.get("BASIC_AUTH_PASS")
        return (user, password) if user and password else None

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Basic ...`` when basic auth is configured, else nothing."""
        if self.auth is None:
            return {}
        raw = base64.b64encode(":".join(self.auth).encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @staticmethod
    def command(gunicorn: Path, port: int) -> list[str]:
        """The gunicorn command line (the Dockerfile's CMD runs the same one)."""
        return [
            str(gunicorn),
            "-c",
            "ml_backend/server/gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "ml_backend.server.wsgi:app",
        ]

    def start(self, timeout: float = 120) -> LocalBackend:
        if not self.gunicorn.exists():
            raise RuntimeError(f"{self.gunicorn} not found: create the backend venv (.venv) first")
        full_env = {**os.environ, **self.env, "PORT": str(self.port)}
        full_env.pop("VIRTUAL_ENV", None)
        cmd = self.command(self.gunicorn, self.port)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd,
                cwd=str(self.repo_root),
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"backend exited with code {code} before /health answered 200.\n"
                    f"--- {self.log_path} ---\n{self._tail()}"
                )
            try:
                r = requests.get(f"{self.url}/health", auth=self.auth, timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = type(e).__name__
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"backend at {self.url} not healthy within {timeout:.0f} s (last: {last}).\n"
                    f"--- {self.log_path} ---\n{self._tail()}"
                )
            time.sleep(0.3)

    def _tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        # Whatever is left in the group (workers of a dead master, a hung shutdown).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
