"""``POST /webhook``: Label Studio's project events.

Label Studio waits at most one second for an answer, so nothing slow happens here: training
events go to the scheduler (debounced, run in the background); every other event gets a polite
200. The project id is validated like every request's (:func:`fields.project_id`): an event
naming something else is a 400 and never reaches the scheduler.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify

from ml_backend.server import fields
from ml_backend.server.errors import BadRequest

log = logging.getLogger(__name__)


def handle_event(body: dict[str, Any], state) -> tuple[int, dict[str, Any]]:
    from ml_backend.jobs.scheduler import TRAINING_EVENTS, InvalidProject, SchedulerFull
    from ml_backend.server import metrics

    action = body.get("action")
    if not isinstance(action, str) or not action or len(action) > 100:
        raise BadRequest("the event has no 'action' (a Label Studio webhook event name)")
    project = fields.project_id(body.get("project"), state.settings.project_id_pattern)
    if action not in TRAINING_EVENTS:
        metrics.WEBHOOK_EVENTS.labels(action="other").inc()
        return 200, {"status": "ignored", "action": action, "project": project}
    metrics.WEBHOOK_EVENTS.labels(action=action).inc()
    if not project:
        raise BadRequest(f"{action} event without a project id")
    try:
        return 200, {"action": action, **state.scheduler.trigger(project, action)}
    except InvalidProject as exc:
        raise BadRequest(str(exc)) from exc
    except SchedulerFull as exc:
        return 429, {"error": str(exc), "status": 429}


def register(app: Flask, state) -> None:
    @app.post("/webhook")
    def webhook():
        status, payload = handle_event(fields.json_body(), state)
        return jsonify(payload), status
