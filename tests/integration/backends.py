"""Starting our backend (gunicorn, ``ml_backend.server.wsgi:app``) for an integration test."""

from __future__ import annotations

from ml_backend.tools.local_backend import LocalBackend


def start_backend(tmp_path_factory, isolated_env, label_studio, api_key, **env) -> LocalBackend:
    """A backend connected to ``label_studio`` with ``api_key``, a fresh MODEL_DIR and the default
    classifier (the ImageNet-pretrained efficientnet-lite0, built from its pip package on first
    use); ``env`` adds or overrides settings. The caller stops it."""
    work = tmp_path_factory.mktemp("backend")
    settings = {
        **isolated_env,
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": api_key,
        "MODEL_DIR": str(work / "models"),
        "CLASSIFIER_MODEL": "efficientnet-lite0",
        "LOG_LEVEL": "INFO",
        "THREADS": "4",
        **{key: str(value) for key, value in env.items()},
    }
    return LocalBackend(env=settings, log_path=work / "backend.log").start(timeout=180)
