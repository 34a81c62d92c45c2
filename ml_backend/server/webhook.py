"""``POST /webhook``: Label Studio's project events.

Label Studio waits at most one second for an answer, so nothing slow happens here: training
events go to the scheduler (debounced, run in the background); every other event gets a polite
200.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def project_id(body: dict[str, Any]) -> str | None:
    """The project id of an event (Label Studio sends ``project`` as an object)."""
    project = body.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None:
        return None
    return str(project).split(".", 1)[0]


def handle_event(body: dict[str, Any], state) -> tuple[int, dict[str, Any]]:
    from ml_backend.jobs.scheduler import TRAINING_EVENTS, InvalidProject, SchedulerFull
    from ml_backend.server import metrics

    action = body.get("action")
    if not isinstance(action, str) or not action:
        return 400, {"error": "the event has no 'action'", "status": 400}
    metrics.WEBHOOK_EVENTS.labels(action=action).inc()
    project = project_id(body)
    if action not in TRAINING_EVENTS:
        return 200, {"status": "ignored", "action": action, "project": project}
    if not project:
        return 400, {"error": f"{action} event without a project id", "status": 400}
    try:
        return 200, {"action": action, **state.scheduler.trigger(project, action)}
    except InvalidProject as exc:
        return 400, {"error": str(exc), "status": 400}
    except SchedulerFull as exc:
        return 429, {"error": str(exc), "status": 429}
