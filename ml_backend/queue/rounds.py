"""Applying a queue order in Label Studio as one ``queue-order-<k>`` round, all or nothing.

The recipe (shared/reference/label-studio-protocol.md §5.7): ``sampling="Uncertainty sampling"``
(+ ``show_collab_predictions``); one prediction per pool task with ``model_version="queue-order-<k>"`` and
``score = (rank + 1) / (N + 1)`` (Label Studio serves the *lowest* score first; never null) and
the classifier's choice as its result; check that Label Studio created exactly N; switch
``project.model_version`` to ``queue-order-<k>``; delete older ``queue-order-*`` versions; point the Data Manager
view "Acquisition order" at ``tasks:predictions_score`` ascending.

A round is all or nothing: if Label Studio stores fewer predictions than sent (its bulk import
drops invalid items silently) or a call fails before the switch, the partial ``queue-order-<k>``
predictions are deleted and the project keeps the previous round's version, so the queue keeps
its previous order. The switch is one PATCH; old rounds are removed only after it, by the
``prune-rounds`` job when the round runs after a training (Label Studio deletes predictions one
at a time, so deleting the previous 10 000 took three times as long as the new round; now the
new order is in force in the time of a first round, and the old one goes in the background).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ml_backend.labelstudio.client import api_request
from ml_backend.labelstudio.retries import with_retries
from ml_backend.training import trainer

log = logging.getLogger(__name__)

#: the queue rounds' model version: Label Studio shows it on the prediction's tab beside the score
#: (the task's place in the order, not a confidence), so the name says what it is
ROUND_PREFIX = "queue-order-"
#: the prefix rounds had before (their predictions are still recognised, and pruned)
OLD_ROUND_PREFIXES = ("al-",)
VIEW_TITLE = "Acquisition order"
SAMPLING = "Uncertainty sampling"
#: Label Studio deletes and imports predictions inline; 10 000 of them take minutes on SQLite
LONG_CALL_SECONDS = 900


class QueueRoundFailed(RuntimeError):
    """The round was not applied; the previous order stays in place (the message says why)."""


def _api(client, method: str, path: str, **kwargs) -> Any:
    return api_request(client, method, path, timeout=LONG_CALL_SECONDS, **kwargs)


def model_versions(client, project: int) -> dict[str, int]:
    """``{model_version: prediction count}`` of a project."""
    data = _api(client, "GET", f"api/projects/{project}/model-versions/")
    if isinstance(data, list):  # older shape: [{"model_version": v, "count": n}]
        return {str(d.get("model_version")): int(d.get("count", 0)) for d in data}
    return {str(k): int(v) for k, v in (data or {}).items()}


def round_number(version: str) -> int | None:
    prefixes = "|".join(re.escape(p) for p in (ROUND_PREFIX, *OLD_ROUND_PREFIXES))
    match = re.fullmatch(rf"(?:{prefixes})(\d+)", str(version or ""))
    return int(match.group(1)) if match else None


def delete_version(client, project: int, version: str) -> None:
    _api(
        client, "DELETE", f"api/projects/{project}/model-versions", json={"model_version": version}
    )


def delete_rounds(client, project: int, keep: str, versions: list[str]) -> list[str]:
    """Delete the ``queue-order-*`` rounds among ``versions`` older than ``keep`` (never a newer one
    that a later round applied meanwhile); returns those deleted."""
    newest = round_number(keep) or 0
    removed = []
    for old in versions:
        number = round_number(old)
        if number is None or number >= newest:
            continue
        try:
            delete_version(client, project, old)
            removed.append(old)
        except Exception as exc:  # noqa: BLE001 - the new round is in place; old one lingers
            log.warning("project %s: could not delete old round %s: %s", project, old, exc)
    return removed


def prune_rounds_job(state, project: str, keep: str) -> dict[str, Any]:
    """The ``prune-rounds`` job: delete the rounds older than ``keep`` (see :func:`apply_order`)."""
    client = trainer.ls_client(state.settings)
    started = time.perf_counter()
    versions = with_retries(
        state.settings, "listing model versions", lambda: model_versions(client, int(project))
    )
    removed = delete_rounds(client, int(project), keep, list(versions))
    return {"deleted_versions": removed, "seconds": round(time.perf_counter() - started, 2)}


def ensure_view(client, project: int) -> int:
    """The Data Manager tab "Acquisition order", sorted by prediction score ascending."""
    data = {
        "title": VIEW_TITLE,
        "ordering": ["tasks:predictions_score"],
        "filters": {"conjunction": "and", "items": []},
    }
    views = _api(client, "GET", "api/dm/views/", params={"project": project}) or []
    for view in views:
        if (view.get("data") or {}).get("title") == VIEW_TITLE:
            merged = {**(view.get("data") or {}), **data}
            _api(
                client,
                "PATCH",
                f"api/dm/views/{view['id']}/",
                json={"project": project, "data": merged},
            )
            return int(view["id"])
    created = _api(client, "POST", "api/dm/views/", json={"project": project, "data": data})
    return int(created["id"])


@dataclass
class _NextRound:
    """The round about to be applied and what was in force before it."""

    version: str  # queue-order-<k>, one past the highest round Label Studio knows
    previous: str  # the project's model_version before the round ("" when none)
    versions: dict[str, int]  # the project's model versions (prediction counts) before it


def _next_round(call, client, project: int) -> _NextRound:
    before = call("reading the project", lambda: _api(client, "GET", f"api/projects/{project}"))
    previous = str(before.get("model_version") or "")
    versions = call("listing model versions", lambda: model_versions(client, project))
    numbers = [n for n in (round_number(v) for v in [*versions, previous]) if n is not None]
    return _NextRound(f"{ROUND_PREFIX}{max(numbers, default=0) + 1}", previous, versions)


def _prediction_items(
    version: str, ordered_task_ids: list[int], results: dict[int, list[dict]]
) -> list[dict]:
    """One prediction per task, scored ``(rank + 1) / (N + 1)``: Label Studio serves the lowest
    score first."""
    n = len(ordered_task_ids)
    return [
        {
            "task": int(task_id),
            "model_version": version,
            "score": (rank + 1) / (n + 1),
            "result": results[int(task_id)],
        }
        for rank, task_id in enumerate(ordered_task_ids)
    ]


def _import_and_switch(call, client, project: int, version: str, items: list[dict], chunk: int):
    """Uncertainty sampling on, the round's predictions imported and counted, then
    ``model_version`` switched to it; returns how many Label Studio created. Raises
    :class:`QueueRoundFailed` when it stored fewer than all or did not switch."""
    n = len(items)
    call(
        "setting uncertainty sampling",
        lambda: _api(
            client,
            "PATCH",
            f"api/projects/{project}",
            json={"sampling": SAMPLING, "show_collab_predictions": True},
        ),
    )
    created = 0
    for start in range(0, n, chunk):
        # not retried: a repeated bulk import could duplicate predictions
        response = client.projects.import_predictions(
            id=project,
            request=items[start : start + chunk],
            request_options={"timeout_in_seconds": LONG_CALL_SECONDS},
        )
        created += int(getattr(response, "created", 0) or 0)
    if created != n:
        raise QueueRoundFailed(
            f"Label Studio stored {created} of {n} {version} predictions (its bulk import drops "
            "items that fail validation; see the Label Studio log)"
        )
    stored = model_versions(client, project).get(version, 0)
    if stored != n:
        raise QueueRoundFailed(f"{stored} {version} predictions found after import, expected {n}")
    switched = _api(client, "PATCH", f"api/projects/{project}", json={"model_version": version})
    if str((switched or {}).get("model_version")) != version:
        raise QueueRoundFailed(f"project.model_version did not switch to {version}")
    return created


def _roll_back(client, project: int, round_: _NextRound, exc: Exception) -> None:
    """Delete the partial round and put the previous one back in effect (logged, never raises)."""
    try:
        delete_version(client, project, round_.version)
        if round_.previous:  # make sure the previous round is still the one in effect
            _api(
                client, "PATCH", f"api/projects/{project}", json={"model_version": round_.previous}
            )
    except Exception as cleanup:  # noqa: BLE001 - reported with the original error
        log.error(
            "project %s: could not remove the partial %s: %s", project, round_.version, cleanup
        )
    log.error(
        "project %s: queue round %s not applied; the previous order (%s) stays: %s",
        project,
        round_.version,
        round_.previous or "none",
        exc,
    )


def _update_view(client, project: int) -> int | None:
    try:
        return ensure_view(client, project)
    except Exception as exc:  # noqa: BLE001 - the stream order does not depend on the view
        log.warning("project %s: Data Manager view not updated: %s", project, exc)
        return None


def apply_order(
    client,
    project: int,
    ordered_task_ids: list[int],
    results: dict[int, list[dict]],
    *,
    settings=None,
    chunk: int = 2000,
    prune: bool = True,
) -> dict[str, Any]:
    """Apply an order (first = served first) as the next ``queue-order-<k>`` round; all or nothing.

    ``prune=False`` leaves the older rounds' predictions for :func:`delete_rounds` (a job of
    its own): Label Studio deletes predictions one by one (a ``pre_delete`` signal updates each
    task's counter), so removing the previous round of 10 000 tasks takes it longer than the
    whole new round; the new order is in force as soon as ``model_version`` switched."""
    call = (
        (lambda what, fn: with_retries(settings, what, fn)) if settings else (lambda _w, fn: fn())
    )
    started = time.perf_counter()
    round_ = _next_round(call, client, project)
    version = round_.version
    items = _prediction_items(version, ordered_task_ids, results)
    try:
        created = _import_and_switch(call, client, project, version, items, chunk)
    except Exception as exc:
        _roll_back(client, project, round_, exc)
        if isinstance(exc, QueueRoundFailed):
            raise
        raise QueueRoundFailed(f"queue round {version} not applied: {exc}") from exc
    stale = [v for v in round_.versions if round_number(v) is not None and v != version]
    removed = delete_rounds(client, project, version, stale) if prune else []
    view = _update_view(client, project)
    return {
        "model_version": version,
        "previous": round_.previous or None,
        "deleted_versions": removed,
        "stale_versions": [v for v in stale if v not in removed],
        "predictions": created,
        "view": view,
        "apply_seconds": round(time.perf_counter() - started, 2),
    }
