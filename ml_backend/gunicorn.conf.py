"""gunicorn settings, read from the environment (see ml_backend/settings.py and the README)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '9090')}"
workers = int(os.environ.get("WORKERS", "1"))
threads = int(os.environ.get("THREADS", "8"))
worker_class = "gthread"
# Models load once in the master; workers fork with them (CUDA is initialised lazily, after the fork).
preload_app = True
# Label Studio waits up to 100 s for /predict; big batches on a CPU can take that long.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
accesslog = "-"
errorlog = "-"
control_socket_disable = True
