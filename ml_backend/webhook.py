"""``POST /webhook``: Label Studio's project events.

Label Studio waits at most one second for an answer, so nothing slow happens here. The events
that can start a training are recognised; every other event gets a polite 200.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TRAINING_EVENTS = frozenset(
    {
        "ANNOTATION_CREATED",
        "ANNOTATION_UPDATED",
        "ANNOTATIONS_CREATED",
        "ANNOTATIONS_DELETED",
        "START_TRAINING",
    }
)


def project_id(body: dict[str, Any]) -> str | None:
    """The project id of an event (Label Studio sends ``project`` as an object)."""
    project = body.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None:
        return None
    return str(project).split(".", 1)[0]


def handle_event(body: dict[str, Any], state) -> tuple[int, dict[str, Any]]:
    action = body.get("action")
    if not isinstance(action, str) or not action:
        return 400, {"error": "the event has no 'action'", "status": 400}
    project = project_id(body)
    if action not in TRAINING_EVENTS:
        return 200, {"status": "ignored", "action": action, "project": project}
    log.info("event %s for project %s: no trainer is configured in this process", action, project)
    return 200, {
        "status": "received",
        "action": action,
        "project": project,
        "training": "not configured",
    }
