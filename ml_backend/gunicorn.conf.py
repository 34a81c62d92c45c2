"""gunicorn settings, from the same environment variables as the app (ml_backend/settings.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_backend.settings import Settings  # noqa: E402

_settings = Settings.from_env()

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
