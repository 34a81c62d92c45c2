"""Start and drive a local Label Studio server for the demo and the integration tests.

Label Studio (pinned to 1.23.2) lives in its own virtual environment, ``.venv-ls`` at the repository
root by default, because it pins ``label-studio-sdk`` and Django versions that must not leak into the
backend's environment. Create it from its lock with ``make .venv-ls/.installed`` or::

    python -m venv .venv-ls && .venv-ls/bin/pip install --require-hashes -r requirements-label-studio.txt

Typical use::

    with LocalLabelStudio(Path("demo-data/label-studio")) as ls:
        client = LabelStudio(base_url=ls.url, api_key=ls.personal_access_token())
        ...

or from the command line (foreground, Ctrl-C stops it)::

    python -m ml_backend.tools.local_label_studio --data-dir demo-data/label-studio --port 8080

The server runs headless on 127.0.0.1 only, with a superuser created from ``username`` and
``password``, a fixed legacy API token (legacy tokens are enabled when the organization is first
created, i.e. on the first start on a fresh data dir) and the SSRF protections that would refuse
an ML backend on 127.0.0.1 switched off. Everything Label Studio writes goes into ``data_dir``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from ml_backend.tools import label_studio_web as web
from ml_backend.tools.label_studio_web import LabelStudioError

REPO_ROOT = Path(__file__).resolve().parents[2]
LABEL_STUDIO_VERSION = "1.23.2"

DEFAULT_USERNAME = "admin@fm-inspect.local"
DEFAULT_PASSWORD = "fm-inspect-admin"
DEFAULT_LEGACY_TOKEN = "fm-inspect-legacy-token"

_PAT_CACHE_NAME = ".fm-inspect-personal-access-token"


class LabelStudioNotInstalled(LabelStudioError):
    """The Label Studio virtual environment is missing."""


def default_venv() -> Path:
    """The Label Studio venv: ``$LABEL_STUDIO_VENV`` or ``<repo>/.venv-ls``."""
    env = os.environ.get("LABEL_STUDIO_VENV")
    return Path(env) if env else REPO_ROOT / ".venv-ls"


def install_hint(venv: Path | None = None) -> str:
    """How to create the Label Studio venv."""
    venv = venv or default_venv()
    return (
        f"Label Studio {LABEL_STUDIO_VERSION} is not installed in {venv} "
        f"(no {venv / 'bin' / 'label-studio'}).\n"
        "It lives in its own virtual environment. Create it from the repository root with\n"
        "    make .venv-ls/.installed\n"
        "or, from the lock,\n"
        "    python -m venv .venv-ls && .venv-ls/bin/pip install --require-hashes -r requirements-label-studio.txt\n"
        "(about 1 GB; set LABEL_STUDIO_VENV to use a venv somewhere else)."
    )


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


@dataclass
class LocalLabelStudio:
    """A Label Studio server process on 127.0.0.1 with its data in ``data_dir``.

    ``port=None`` picks a free port. ``extra_env`` is added to the server's environment, e.g.
    ``{"LOCAL_FILES_DOCUMENT_ROOT": "/abs/root"}`` (which also turns on local-files serving).
    """

    data_dir: Path
    port: int | None = None
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    legacy_token: str = DEFAULT_LEGACY_TOKEN
    venv: Path = field(default_factory=default_venv)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None

    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)
    _pat: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.venv = Path(self.venv)
        if self.log_path is None:
            self.log_path = self.data_dir / "label-studio.log"
        self.log_path = Path(self.log_path)
        if len(self.legacy_token) < 6:
            raise ValueError(
                "legacy_token must have at least 6 characters (Label Studio ignores shorter ones)"
            )

    # ------------------------------------------------------------------ properties
    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "label-studio"

    @property
    def url(self) -> str:
        if self.port is None:
            raise LabelStudioError("Label Studio has no port yet: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """The server log written since the last start()."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def auth_headers(self) -> dict[str, str]:
        """``Authorization`` header with the legacy token."""
        return {"Authorization": f"Token {self.legacy_token}"}

    # ------------------------------------------------------------------ lifecycle
    def environment(self) -> dict[str, str]:
        """The environment the server process gets."""
        env = dict(os.environ)
        # A PORT or HOST meant for something else must not steer Label Studio.
        for name in ("PORT", "LABEL_STUDIO_PORT", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV"):
            env.pop(name, None)
        env.update(
            {
                "LABEL_STUDIO_USERNAME": self.username,
                "LABEL_STUDIO_PASSWORD": self.password,
                "LABEL_STUDIO_USER_TOKEN": self.legacy_token,
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
                "ML_BLOCK_LOCAL_IP": "false",
                "SSRF_PROTECTION_ENABLED": "false",
                "XDG_CACHE_HOME": str(self.data_dir / ".cache"),
                "XDG_CONFIG_HOME": str(self.data_dir / ".config"),
                "XDG_DATA_HOME": str(self.data_dir / ".local-share"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        if env.get("LOCAL_FILES_DOCUMENT_ROOT"):
            env.setdefault("LOCAL_FILES_SERVING_ENABLED", "true")
        return env

    def start(self, timeout: float = 180) -> LocalLabelStudio:
        """Start the server (its own process group) and wait until ``/health`` answers."""
        if self.is_running():
            return self
        if not self.executable.exists():
            raise LabelStudioNotInstalled(install_hint(self.venv))
        root = self.extra_env.get("LOCAL_FILES_DOCUMENT_ROOT")
        if root and not Path(root).is_absolute():
            raise ValueError(f"LOCAL_FILES_DOCUMENT_ROOT must be an absolute path, got {root!r}")

        auto_port = self.port is None
        if auto_port:
            self.port = find_free_port()
        elif _port_in_use(self.port):
            raise LabelStudioError(f"port {self.port} on 127.0.0.1 is already in use")

        self.data_dir.mkdir(parents=True, exist_ok=True)
        for sub in (".cache", ".config", ".local-share"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self._log_offset = self._log_file.tell()
        self._pat = None

        cmd = [
            str(self.executable),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        self._process = subprocess.Popen(
            cmd,
            cwd=str(self.data_dir),
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        atexit.register(self.stop)
        try:
            self._wait_healthy(timeout, auto_port)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float, auto_port: bool) -> None:
        assert self._process is not None
        requested = self.port
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise LabelStudioError(
                    f"Label Studio exited with code {code} before it became healthy.\n"
                    f"Command: {' '.join(map(str, self._process.args))}\n"
                    f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            log = self.log_text()
            # Label Studio silently moves to the next port when its port is taken.
            if re.search(rf"Port {requested} is in use", log):
                started = re.search(r"Starting development server at http://[^:/]+:(\d+)/", log)
                if not auto_port:
                    raise LabelStudioError(
                        f"port {requested} was taken while Label Studio started; it moved to another port.\n"
                        f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
                    )
                if started is None:  # not listening yet; wait for the actual port
                    self.port = None
                else:
                    self.port = int(started.group(1))
            if self.port is not None and self._healthy():
                return
            if time.monotonic() > deadline:
                raise LabelStudioError(
                    f"Label Studio did not become healthy on 127.0.0.1:{self.port or requested} "
                    f"within {timeout:.0f} s.\n--- last lines of {self.log_path} ---\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def _healthy(self) -> bool:
        try:
            r = requests.get(f"{self.url}/health", timeout=2)
            return r.status_code == 200 and r.json().get("status") == "UP"
        except (requests.RequestException, ValueError):
            return False

    def stop(self, timeout: float = 15) -> None:
        """Terminate the server's process group; kill it if it does not exit. Idempotent."""
        proc, self._process = self._process, None
        atexit.unregister(self.stop)
        if proc is not None:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait(timeout=timeout)
            # Children left in the group after the leader exited.
            self._signal_group(proc, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def __enter__(self) -> LocalLabelStudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ accounts (label_studio_web)
    @property
    def _pat_cache(self) -> Path:
        return self.data_dir / _PAT_CACHE_NAME

    def login(self) -> requests.Session:
        """A ``requests.Session`` logged in through the login form (session cookie + CSRF)."""
        return web.login(self.url, self.username, self.password)

    def create_user(self, email: str, password: str) -> None:
        """Sign a new user up through the signup form; it joins the (single) organization.

        Log in as that user with ``replace(ls, username=email, password=password,
        data_dir=<another dir>)``: an instance that is not started drives the server on its port.
        """
        web.sign_up(self.url, email, password)

    def personal_access_token(self) -> str:
        """A Personal Access Token (a JWT refresh token) of the user.

        Label Studio allows one live PAT per user and shows it in full only at creation, so it
        is cached in memory and in ``data_dir`` (mode 0600). If the user already has a PAT that
        this launcher does not know, that one is revoked (blacklisted) and a new one created.
        """
        if self._pat is not None:
            return self._pat
        if self._pat_cache.exists():
            cached = self._pat_cache.read_text().strip()
            if cached and web.pat_valid(self.url, cached):
                self._pat = cached
                return cached
        self._pat = web.new_personal_access_token(self.login(), self.url, self._pat_cache)
        return self._pat

    def add_local_storage(
        self,
        project_id: int,
        path: Path,
        *,
        title: str | None = None,
        regex_filter: str | None = None,
        sync: bool = True,
    ) -> dict:
        """Create (and sync) a Local Storage of ``project_id`` for the folder ``path``.

        ``path`` must be a subfolder of ``LOCAL_FILES_DOCUMENT_ROOT`` (not the root itself).
        With ``use_blob_urls`` each file becomes one task whose data is
        ``{"image": "/data/local-files/?d=<path relative to the root>"}``. Returns the storage
        as Label Studio reports it.
        """
        body: dict = {
            "project": project_id,
            "path": str(Path(path).resolve()),
            "use_blob_urls": True,
            "title": title or Path(path).name,
        }
        if regex_filter is not None:
            body["regex_filter"] = regex_filter
        r = requests.post(
            f"{self.url}/api/storages/localfiles",
            json=body,
            headers=self.auth_headers(),
            timeout=60,
        )
        if r.status_code != 201:
            raise LabelStudioError(
                f"creating the local storage failed: HTTP {r.status_code} {r.text[:500]}"
            )
        storage = r.json()
        if sync:
            r = requests.post(
                f"{self.url}/api/storages/localfiles/{storage['id']}/sync",
                headers=self.auth_headers(),
                timeout=300,
            )
            if r.status_code >= 300:
                raise LabelStudioError(
                    f"syncing the local storage failed: HTTP {r.status_code} {r.text[:500]}"
                )
            storage = r.json()
        return storage

    def start_training(self, ml_backend_id: int) -> None:
        """ "Start Training" of a connected ML backend (``POST /api/ml/<id>/train``): Label Studio
        sends the backend a START_TRAINING webhook event. LabelStudioError unless it answers 200
        or 201."""
        r = requests.post(
            f"{self.url}/api/ml/{ml_backend_id}/train", headers=self.auth_headers(), timeout=60
        )
        if r.status_code not in (200, 201):
            raise LabelStudioError(
                f"starting the training failed: HTTP {r.status_code} {r.text[:500]}"
            )

    def access_token(self) -> str:
        """A short-lived (about 5 min) JWT access token for ``Authorization: Bearer``."""
        r = web.refresh(self.url, self.personal_access_token())
        r.raise_for_status()
        return r.json()["access"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ml_backend.tools.local_label_studio",
        description="Run a local Label Studio in the foreground (Ctrl-C stops it).",
    )
    p.add_argument("--data-dir", type=Path, required=True, help="where Label Studio keeps its data")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--username", default=DEFAULT_USERNAME)
    p.add_argument("--password", default=DEFAULT_PASSWORD)
    p.add_argument("--legacy-token", default=DEFAULT_LEGACY_TOKEN)
    p.add_argument("--venv", type=Path, default=None, help="Label Studio venv (default .venv-ls)")
    p.add_argument(
        "--local-files-root", type=Path, default=None, help="LOCAL_FILES_DOCUMENT_ROOT to serve"
    )
    p.add_argument("--timeout", type=float, default=180)
    args = p.parse_args(argv)

    extra_env = {}
    if args.local_files_root is not None:
        extra_env["LOCAL_FILES_DOCUMENT_ROOT"] = str(args.local_files_root.resolve())
    ls = LocalLabelStudio(
        data_dir=args.data_dir,
        port=args.port,
        username=args.username,
        password=args.password,
        legacy_token=args.legacy_token,
        venv=args.venv or default_venv(),
        extra_env=extra_env,
    )

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and `kill` both stop the server (its own process group would outlive us otherwise).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"starting Label Studio in {ls.data_dir} (log: {ls.log_path}) ...", flush=True)
    try:
        ls.start(timeout=args.timeout)
    except LabelStudioError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        print(f"Label Studio: {ls.url}")
        print(f"  login:          {ls.username} / {ls.password}")
        print(f"  legacy token:   {ls.legacy_token}")
        print(f"  personal token: {ls.personal_access_token()}")
        print("Ctrl-C stops it.", flush=True)
        while ls.is_running():
            time.sleep(1)
        print(f"Label Studio exited.\n{ls.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping Label Studio ...", flush=True)
        return 0
    finally:
        ls.stop()


if __name__ == "__main__":
    sys.exit(main())
