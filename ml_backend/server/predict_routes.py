"""``POST /setup`` and ``POST /predict`` (with its interactive, smart-tool form).

The routes read their fields through :mod:`ml_backend.server.fields` and raise; the error
boundary (:mod:`ml_backend.server.errors`) turns what they raise into 4xx/503 answers.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify

from ml_backend.server import fields, metrics
from ml_backend.server.errors import BadRequest

log = logging.getLogger(__name__)


def _interactive(state, tasks: list, body: dict, context: dict) -> Response:
    """A smart-tool request: one brush result for the context's label (task 0 only)."""
    if len(tasks) != 1 or not isinstance(tasks[0], dict):
        raise BadRequest("an interactive request (params.context) takes exactly one task")
    prediction = state.interactive.predict(tasks[0], fields.label_config(body), context)
    metrics.PREDICTED_TASKS.labels(outcome="interactive").inc()
    return jsonify({"results": [prediction], "model_version": prediction["model_version"]})


def _count(tasks: list, outcome) -> None:
    metrics.PREDICTED_TASKS.labels(outcome="predicted").inc(len(tasks) - len(outcome.errors))
    metrics.PREDICTED_TASKS.labels(outcome="failed").inc(len(outcome.errors))
    log.info(
        "predicted %d task(s) (%d without prediction) in %.2fs with %s",
        len(tasks),
        len(outcome.errors),
        outcome.timings["total_s"],
        outcome.model_version,
    )


def register(app: Flask, state) -> None:
    pattern = state.settings.project_id_pattern

    @app.post("/setup")
    def setup():
        body = fields.json_body()
        project = fields.project_id(body.get("project"), pattern)
        version = state.predictor.setup(fields.label_config(body), project)
        log.info("setup for project %s: model_version %s", project, version)
        return jsonify({"model_version": version})

    @app.post("/predict")
    def predict():
        body = fields.json_body()
        tasks = fields.tasks(body)
        project = fields.project_id(body.get("project"), pattern)
        params = body.get("params")
        context = params.get("context") if isinstance(params, dict) else None
        if isinstance(context, dict) and context.get("result"):
            return _interactive(state, tasks, body, context)
        outcome = state.predictor.predict(tasks, fields.label_config(body), project)
        _count(tasks, outcome)
        body = {
            "results": outcome.results,
            "model_version": outcome.model_version,
            "errors": outcome.errors,
        }
        if outcome.note:
            body["note"] = outcome.note
        return jsonify(body)
