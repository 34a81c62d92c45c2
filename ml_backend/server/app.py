"""The HTTP side: the ML backend contract Label Studio 1.23 speaks.

``GET /health``, ``POST /setup``, ``POST /predict``, ``POST /webhook``, ``GET /versions``, plus
``POST /versions/live`` (rollback), ``/jobs`` (bulk pre-label) and ``GET /metrics`` (Prometheus).
Shapes are those in shared/reference/label-studio-protocol.md §1.2. The routes live in one
module per concern; this module wires them to one backend state, basic auth, the request
metrics and the error boundary (:mod:`ml_backend.server.errors`): every error is JSON with an
``error`` message that says what to do, and no request can take the process down.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, request

from ml_backend.server import (
    auth,
    errors,
    health_routes,
    jobs_routes,
    metrics,
    predict_routes,
    versions_routes,
    webhook,
)
from ml_backend.settings import Settings
from ml_backend.state import BackendState

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = errors.MAX_REQUEST_BYTES


def warn_if_open(settings: Settings) -> None:
    """Say loudly at start-up that anyone who reaches the port may use every route."""
    if settings.is_open:
        log.warning(
            "THE BACKEND IS OPEN: it listens on %s:%s without basic auth, so anyone who reaches "
            "that port can read /health (paths, training records), run predictions, start "
            "training and roll back versions. Set BASIC_AUTH_USER and BASIC_AUTH_PASS (and the "
            "same in Label Studio), or HOST=127.0.0.1 behind a proxy that authenticates.",
            settings.bind_host,
            settings.port,
        )


def _record_metrics(response):
    route = request.url_rule.rule if request.url_rule is not None else "unknown"
    started = request.environ.get("fm_inspect.start")
    metrics.REQUESTS.labels(
        route=route, method=request.method, status=str(response.status_code)
    ).inc()
    if started is not None:
        metrics.LATENCY.labels(route=route).observe(time.perf_counter() - started)
    return response


def create_app(settings: Settings | None = None, *, preload: bool = True) -> Flask:
    settings = settings or Settings.from_env()
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s",
    )
    state = BackendState(settings)
    if preload:
        state.preload()

    app = Flask("fm-inspect")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.extensions["fm_inspect"] = state
    auth.register(app, settings)
    app.before_request(lambda: request.environ.__setitem__("fm_inspect.start", time.perf_counter()))
    app.after_request(_record_metrics)
    errors.register(app)
    for routes in (health_routes, predict_routes, webhook, versions_routes, jobs_routes):
        routes.register(app, state)
    warn_if_open(settings)
    return app
