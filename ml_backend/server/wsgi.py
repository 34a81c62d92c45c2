"""WSGI entry point: ``gunicorn -c ml_backend/gunicorn.conf.py ml_backend.wsgi:app``.

With ``preload_app`` the default models load once, in the gunicorn master, before workers fork.
"""

from ml_backend.app import create_app

app = create_app()
