"""The Label Studio calls of a bulk pre-label job: the project's label config, the tasks (with
the model versions of their predictions), and the bulk prediction import.

Shapes: shared/reference/label-studio-protocol.md §5.7 and §6 (``GET /api/tasks`` with a
``query`` selecting task ids, ``POST /api/projects/{id}/import/predictions``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

LONG_CALL_SECONDS = 300


def _dump(item: Any) -> dict:
    return item.model_dump() if hasattr(item, "model_dump") else dict(item)


def label_config(client, project: int) -> str:
    return str(client.projects.get(id=project).label_config or "")


def prediction_versions(task: dict) -> set[str]:
    """The model versions of a task's stored predictions."""
    return {str(p.get("model_version")) for p in task.get("predictions") or [] if p}


def iter_task_summaries(client, project: int, page_size: int = 200) -> Iterator[dict]:
    """Every task of the project: ``{"id", "is_labeled", "versions"}``."""
    pager = client.tasks.list(project=project, fields="all", page_size=page_size)
    for task in pager:
        task = _dump(task)
        yield {
            "id": int(task["id"]),
            "is_labeled": bool(task.get("is_labeled") or task.get("annotations")),
            "versions": sorted(prediction_versions(task)),
        }


def tasks_by_id(client, project: int, ids: Sequence[int]) -> list[dict]:
    """The given tasks with their data and predictions, in one request (Data Manager query)."""
    query = json.dumps({"selectedItems": {"all": False, "included": [int(i) for i in ids]}})
    pager = client.tasks.list(project=project, fields="all", query=query, page_size=len(ids) or 1)
    wanted = {int(i) for i in ids}
    return [task for task in (_dump(t) for t in pager) if int(task["id"]) in wanted]


def import_predictions(client, project: int, items: list[dict]) -> int:
    """Bulk import; returns how many predictions Label Studio stored (invalid ones are dropped)."""
    response = client.projects.import_predictions(
        id=project, request=items, request_options={"timeout_in_seconds": LONG_CALL_SECONDS}
    )
    return int(getattr(response, "created", 0) or 0)


def version_counts(client, project: int) -> dict[str, int]:
    """``GET /api/predictions/?project=P`` counted per (task, version): for checks and tests."""
    counts: dict[str, int] = {}
    for prediction in client.predictions.list(project=project):
        prediction = _dump(prediction)
        key = f"{prediction.get('task')}:{prediction.get('model_version')}"
        counts[key] = counts.get(key, 0) + 1
    return counts
