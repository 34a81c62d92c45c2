"""The HTTP side: the ML backend contract Label Studio 1.23 speaks.

``GET /health``, ``POST /setup``, ``POST /predict``, ``POST /webhook``, ``GET /versions``, plus
``POST /versions/live`` (rollback) and ``GET /metrics`` (Prometheus).
Shapes are those in shared/reference/label-studio-protocol.md §1.2. Every error is JSON with an
``error`` message that says what to do; no request can take the process down.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ml_backend import __version__
from ml_backend.controls.brush_segmentation import mask_source_of
from ml_backend.controls.interactive import InteractiveError
from ml_backend.controls.label_config import LabelConfigError
from ml_backend.images.fetcher import ImageFetchError
from ml_backend.jobs.runner import redis_status
from ml_backend.jobs.view import job_list
from ml_backend.server import jobs_routes, metrics
from ml_backend.server.webhook import handle_event, project_id
from ml_backend.serving.versions import StoreError, make_live, trained_versions
from ml_backend.settings import Settings
from ml_backend.state import BackendState
from model_zoo.loading import ModelLoadError
from model_zoo.sam.refiner import sam_note

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024


def _jobs_health(state) -> list[dict]:
    jobs_routes.job_gauges(state.prelabel.jobs())
    return job_list(state)


def _json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        raise _BadRequest("the request body is empty: send a JSON object")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


class _BadRequest(Exception):
    pass


def _reason_phrase(message: str, limit: int = 400) -> str:
    """The message as an HTTP reason phrase: Label Studio shows only the status line of a failed
    /setup (``400 Client Error: <reason> for url …``), so the reason is where users see it."""
    text = " ".join(str(message).split())
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, "status": status, **extra})
    response.status = f"{status} {_reason_phrase(message)}"
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

    @app.before_request
    def check_basic_auth():
        if not settings.basic_auth_enabled:
            return None
        auth = request.authorization
        ok = (
            auth is not None
            and auth.type == "basic"
            and hmac.compare_digest(str(auth.username or ""), settings.basic_auth_user)
            and hmac.compare_digest(str(auth.password or ""), settings.basic_auth_pass)
        )
        if ok:
            return None
        response = _error(
            401,
            "basic auth required: set the same user and password in Label Studio "
            "(Project → Settings → Model → Authentication) as BASIC_AUTH_USER/BASIC_AUTH_PASS here",
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="fm-inspect"'
        return response

    @app.before_request
    def start_timer():
        request.environ["fm_inspect.start"] = time.perf_counter()

    @app.after_request
    def record_metrics(response):
        route = request.url_rule.rule if request.url_rule is not None else "unknown"
        started = request.environ.get("fm_inspect.start")
        metrics.REQUESTS.labels(
            route=route, method=request.method, status=str(response.status_code)
        ).inc()
        if started is not None:
            metrics.LATENCY.labels(route=route).observe(time.perf_counter() - started)
        return response

    @app.errorhandler(_BadRequest)
    def bad_request(exc):
        return _error(400, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"the request is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB"
        return _error(exc.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, f"internal error ({type(exc).__name__}: {exc}); see the backend log")

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(
            {
                "status": "UP",
                "model_class": "fm-inspect",
                "version": __version__,
                "model_version": state.default_version,
                "models": state.models.loaded(),
                "errors": [e for e in [state.preload_error] if e]
                + [e["error"] for e in state.models.errors()],
                "device_setting": settings.device,
                "label_studio_url": settings.label_studio_url or None,
                "label_studio_api_key_set": bool(settings.api_key),
                "uptime_s": round(time.time() - state.started_at, 1),
                "notes": [
                    n for n in [sam_note(settings.sam_checkpoint, settings.sam_model_type)] if n
                ],
                "interactive": state.interactive.status(),
                "training": state.scheduler.status(),
                "jobs": _jobs_health(state),
                "scheduler": state.scheduler.load(),
                "redis": redis_status(settings.redis_url) if settings.redis_url else None,
                "projects": {
                    scope.removeprefix("project-"): state.models.store.live_version(scope)
                    for scope in state.models.store.scopes()
                },
                "mask_sources": {
                    scope.removeprefix("project-"): mask_source_of(state.models.store.meta(path))
                    for scope in state.models.store.scopes()
                    if (path := state.models.store.live_path(scope)) is not None
                },
            }
        )

    @app.post("/setup")
    def setup():
        body = _json_body()
        schema = body.get("schema") or body.get("label_config")
        try:
            version = state.predictor.setup(schema, project_id(body))
        except LabelConfigError as exc:
            return _error(400, str(exc))
        except ModelLoadError as exc:
            return _error(503, str(exc))
        log.info("setup for project %s: model_version %s", body.get("project"), version)
        return jsonify({"model_version": version})

    @app.post("/predict")
    def predict():
        body = _json_body()
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            return _error(400, "the request needs 'tasks': a list of Label Studio tasks")
        if not tasks:
            return _error(400, "'tasks' is empty: there is nothing to predict")
        params = body.get("params")
        context = params.get("context") if isinstance(params, dict) else None
        if isinstance(context, dict) and context.get("result"):
            return interactive(tasks, body, context)
        try:
            outcome = state.predictor.predict(
                tasks, body.get("label_config") or body.get("schema"), project_id(body)
            )
        except LabelConfigError as exc:
            return _error(400, str(exc))
        except ModelLoadError as exc:
            return _error(503, str(exc))
        metrics.PREDICTED_TASKS.labels(outcome="predicted").inc(len(tasks) - len(outcome.errors))
        metrics.PREDICTED_TASKS.labels(outcome="failed").inc(len(outcome.errors))
        log.info(
            "predicted %d task(s) (%d without prediction) in %.2fs with %s",
            len(tasks),
            len(outcome.errors),
            outcome.timings["total_s"],
            outcome.model_version,
        )
        return jsonify(
            {
                "results": outcome.results,
                "model_version": outcome.model_version,
                "errors": outcome.errors,
            }
        )

    def interactive(tasks: list, body: dict, context: dict) -> Response:
        """A smart-tool request: one brush result for the context's label (task 0 only)."""
        if len(tasks) != 1 or not isinstance(tasks[0], dict):
            return _error(400, "an interactive request (params.context) takes exactly one task")
        label_config = body.get("label_config") or body.get("schema")
        try:
            prediction = state.interactive.predict(tasks[0], label_config, context)
        except (InteractiveError, LabelConfigError) as exc:
            return _error(400, f"interactive request: {exc}")
        except ImageFetchError as exc:
            return _error(422, f"interactive request: the task image cannot be used: {exc}")
        metrics.PREDICTED_TASKS.labels(outcome="interactive").inc()
        return jsonify({"results": [prediction], "model_version": prediction["model_version"]})

    @app.post("/webhook")
    def webhook():
        body = _json_body()
        status, payload = handle_event(body, state)
        if status >= 400:
            return _error(status, payload.get("error", "bad event"))
        return jsonify(payload), status

    @app.get("/versions")
    def versions():
        """Every version: the configured model and each project's trained versions (live marked).

        ``?project=ID`` limits the list to one project. Label Studio reads ``versions``."""
        wanted = request.args.get("project")
        trained = [
            {**info.as_dict(), "mask_source": mask_source_of(info.meta)}
            for info in trained_versions(state.models.store, wanted)
        ]
        for item in trained:
            item.pop("history", None)
            item.pop("path", None)
        names = [t["version"] for t in trained]
        if not wanted and state.default_version:
            names.insert(0, state.default_version)
        return jsonify({"versions": names, "details": trained})

    @app.post("/versions/live")
    def set_live_version():
        """Roll back (or forward): ``{"project": 3, "version": "p3-v1"}``."""
        body = _json_body()
        project, version = project_id(body), body.get("version")
        if not project or not isinstance(version, str):
            return _error(400, 'send {"project": <id>, "version": "<version name>"}')
        try:
            make_live(state.models.store, project, version)
        except StoreError as exc:
            return _error(404, str(exc))
        return jsonify({"project": project, "live": version})

    jobs_routes.register(app, state, _json_body, _error)

    @app.get("/metrics")
    def prometheus():
        jobs_routes.job_gauges(state.prelabel.jobs())
        payload, content_type = metrics.exposition()
        return Response(payload, content_type=content_type)

    return app
