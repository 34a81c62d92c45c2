"""gunicorn settings, from the same environment variables as the app (ml_backend/settings.py).

- ``bind``: ``HOST`` (empty: loopback unless basic auth is set) and ``PORT``;
- ``gthread`` workers with ``THREADS`` threads: a client that trickles its request body holds
  one thread while it does, so the default of 32 leaves room for many slow clients; put a
  buffering reverse proxy in front on an untrusted network (docs/security.md);
- the access log never carries credentials: no ``%(u)s`` (gunicorn writes the whole decoded
  basic-auth token there when it has no ``:``) and no request headers.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml_backend.settings import Settings  # noqa: E402

_settings = Settings.from_env()


def _metrics_dir() -> str:
    """A folder for prometheus_client's multiprocess files: under MODEL_DIR, or, when that is not
    writable (a read-only volume), a temporary folder, with a warning instead of a traceback."""
    wanted = _settings.model_dir / ".metrics" / str(os.getpid())
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        return str(wanted)
    except OSError as exc:
        fallback = tempfile.mkdtemp(prefix="fm-inspect-metrics-")
        print(
            f"WARNING: MODEL_DIR is not writable ({type(exc).__name__}: {exc.strerror}); "
            f"/metrics of the {_settings.workers} workers are kept in {fallback} instead. "
            "Training and rollback need a writable MODEL_DIR.",
            file=sys.stderr,
        )
        return fallback


if _settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    # several workers: /metrics adds up every worker's counters (prometheus_client multiprocess)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


bind = f"{_settings.bind_host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
# Models load once in the master; workers fork with them (CUDA is initialised lazily, after the fork).
preload_app = True
# Label Studio waits up to 100 s for /predict; a big batch on a CPU can take that long.
timeout = _settings.request_timeout
graceful_timeout = 30
loglevel = _settings.log_level.lower()
accesslog = "-"
# gunicorn's default with %(u)s (the basic-auth user, or the whole token) and %(f)s left out
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s" %(M)sms'
errorlog = "-"
control_socket_disable = True
