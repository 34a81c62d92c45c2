"""gunicorn settings, from the same environment variables as the app (ml_backend/settings.py)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml_backend.settings import Settings  # noqa: E402

_settings = Settings.from_env()

if _settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    # several workers: /metrics adds up every worker's counters (prometheus_client multiprocess)
    _metrics_dir = _settings.model_dir / ".metrics" / str(os.getpid())
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


bind = f"{_settings.host}:{_settings.port}"
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
errorlog = "-"
control_socket_disable = True
