"""A project's trained versions: which exist, which is live, and rolling back (or forward).

The one place the backend changes a live pointer by request: ``POST /versions/live`` and
``python -m ml_backend rollback`` both call :func:`make_live`. Every worker switches on its next
request (the model cache reads the pointer).
"""

from __future__ import annotations

import logging

from ml_backend.settings import Settings
from model_zoo.storage.model_store import ModelStore, StoreError, VersionInfo

log = logging.getLogger(__name__)

__all__ = ["StoreError", "make_live", "project_scope", "store_for", "trained_versions"]


def project_scope(project: str | int) -> str:
    """The model-store scope of a Label Studio project."""
    return f"project-{project}"


def store_for(settings: Settings) -> ModelStore:
    return ModelStore(settings.model_dir / "store", keep=settings.keep_versions)


def trained_versions(store: ModelStore, project: str | int | None = None) -> list[VersionInfo]:
    """Every trained version of one project, or of all projects (oldest first per project)."""
    scopes = [project_scope(project)] if project else store.scopes()
    return [info for scope in scopes for info in store.versions(scope)]


def make_live(store: ModelStore, project: str | int, version: str) -> None:
    """Make ``version`` the live one of ``project``; :class:`StoreError` if it does not exist."""
    store.set_live(project_scope(project), version)
    log.warning("project %s: live version set to %s", project, version)
