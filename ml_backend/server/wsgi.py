"""WSGI entry point: ``gunicorn -c ml_backend/server/gunicorn.conf.py ml_backend.server.wsgi:app``.

With ``preload_app`` the default models load once, in the gunicorn master, before workers fork.
"""

from ml_backend.server.app import create_app

app = create_app()
