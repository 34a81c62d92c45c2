"""``GET /health`` (and ``/``), what Label Studio calls before everything, and ``GET /metrics``.

``/health`` must answer even when parts of the backend are broken: a store it cannot read is
reported in ``errors``, never a 500.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify

from ml_backend import __version__
from ml_backend.controls.brush_segmentation import mask_source_of
from ml_backend.jobs.runner import redis_status
from ml_backend.jobs.view import job_list
from ml_backend.server import jobs_routes, metrics
from ml_backend.server.errors import disk_message
from ml_backend.serving.project_state import known_projects, project_status
from model_zoo.sam.refiner import sam_note

log = logging.getLogger(__name__)


def _jobs_health(state) -> list[dict]:
    jobs_routes.job_gauges(state.prelabel.jobs())
    return job_list(state)


def _projects(state) -> tuple[dict, dict, dict]:
    """Each project's live version, mask source and state in words (model store, job records)."""
    store = state.models.store
    live, sources, states = {}, {}, {}
    for scope in store.scopes():
        project = scope.removeprefix("project-")
        live[project] = store.live_version(scope)
        path = store.live_path(scope)
        if path is not None:
            sources[project] = mask_source_of(store.meta(path))
    for project in known_projects(state.settings, store):
        states[project] = project_status(state.settings, store, project)
    return live, sources, states


def health_body(state) -> dict:
    settings = state.settings
    errors = [e for e in [state.preload_error] if e] + [e["error"] for e in state.models.errors()]
    try:
        projects, mask_sources, project_states = _projects(state)
    except OSError as exc:
        log.error("cannot read the model store: %r", exc)
        projects, mask_sources, project_states = {}, {}, {}
        errors.append(f"model store: {disk_message(exc)}")
    return {
        "status": "UP",
        "model_class": "fm-inspect",
        "version": __version__,
        "model_version": state.default_version,
        "models": state.models.loaded(),
        "errors": errors,
        "device_setting": settings.device,
        "label_studio_url": settings.label_studio_url or None,
        "label_studio_api_key_set": bool(settings.api_key),
        "uptime_s": round(time.time() - state.started_at, 1),
        "notes": [n for n in [sam_note(settings.sam_checkpoint, settings.sam_model_type)] if n],
        "interactive": state.interactive.status(),
        "training": state.scheduler.status(),
        "jobs": _jobs_health(state),
        "scheduler": state.scheduler.load(),
        "redis": redis_status(settings.redis_url) if settings.redis_url else None,
        "projects": projects,
        "mask_sources": mask_sources,
        "project_states": project_states,
    }


def register(app: Flask, state) -> None:
    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(health_body(state))

    @app.get("/metrics")
    def prometheus():
        jobs_routes.job_gauges(state.prelabel.jobs())
        payload, content_type = metrics.exposition()
        return Response(payload, content_type=content_type)
