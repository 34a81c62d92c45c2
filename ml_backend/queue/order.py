"""Label Studio Community serves the unlabeled tasks in acquisition order.

One *queue round* (after a training round, or ``python -m ml_backend reorder --project ID``):

1. read every task (SDK, paginated);
2. rank the unlabeled ones (:mod:`ml_backend.queue.scoring`: cached backbone features, the
   classifier head, ``ACQUISITION_STRATEGY``), each with the classifier's choice as its result,
   or the full pre-label that re-prediction stored for the same model version;
3. apply the order as the next ``queue-order-<k>`` round, all or nothing (:mod:`ml_backend.queue.rounds`);
   older rounds are deleted afterwards by the ``prune-rounds`` job.

How this coexists with ``REPREDICT_AFTER_TRAINING``: re-prediction stores predictions under the
trained version (``p<project>-v<n>``), the queue round under ``queue-order-<k>``. With
``project.model_version = queue-order-<k>`` Label Studio shows the queue-order-<k> predictions as pre-labels (they
carry the classifier's choice) and no longer calls ``/predict`` live when a task with stored
predictions opens (protocol §5.3); tasks imported after the round get live predictions (they have
none stored) and are served after the ranked ones.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ml_backend.labelstudio.retries import with_retries
from ml_backend.queue.history import load_history, save_history
from ml_backend.queue.rounds import apply_order
from ml_backend.queue.scoring import score_tasks
from ml_backend.training import trainer
from ml_backend.training.annotations import iter_tasks
from ml_backend.training.trainer import TrainingSkipped, choices_handler

log = logging.getLogger(__name__)


def stored_prelabels(tasks: list[dict], version: str) -> dict[int, list[dict]]:
    """Results of each task's stored prediction made by classifier ``version`` (the backend's
    model versions join the versions of the models a config uses with ``+``)."""
    found: dict[int, list[dict]] = {}
    for task in tasks:
        for prediction in task.get("predictions") or []:
            if not isinstance(prediction, dict) or not prediction.get("result"):
                continue
            if version in str(prediction.get("model_version") or "").split("+"):
                found[int(task["id"])] = prediction["result"]
    return found


def _with_full_prelabels(
    tasks: list[dict], results: dict[int, list[dict]], info: dict[str, Any]
) -> dict[int, list[dict]]:
    """Annotators see the round's predictions as pre-labels: reuse the full ones (choices and
    masks) that re-prediction stored for this model version; the choice alone where none is.
    Counts the reused ones in ``info["full_prelabels"]``."""
    full = stored_prelabels(tasks, info["model_version"])
    merged = {task_id: full.get(task_id, result) for task_id, result in results.items()}
    info["full_prelabels"] = sum(task_id in full for task_id in merged)
    return merged


def _log_round(project, applied: dict, info: dict, ordered: list[int]) -> None:
    log.info(
        "project %s: queue round %s by %s over %d tasks, first task %s%s",
        project,
        applied["model_version"],
        info["strategy"],
        len(ordered),
        ordered[0],
        f" (notes: {'; '.join(info['notes'])})" if info["notes"] else "",
    )


def reorder_project(
    state,
    project: str,
    *,
    strategy: str | None = None,
    minority: tuple[str, ...] | None = None,
    prune_later: bool = False,
) -> dict[str, Any]:
    """One queue round for ``project`` (see the module doc); returns a summary. With
    ``prune_later`` the previous rounds are deleted by a ``prune-rounds`` job afterwards."""
    settings = state.settings
    started = time.perf_counter()
    client = trainer.ls_client(settings)  # looked up at call time (tests replace it)
    details = with_retries(
        settings, "reading the project", lambda: client.projects.get(id=int(project))
    )
    try:
        handler = choices_handler(state, details.label_config, str(project))
    except TrainingSkipped as exc:
        return {"state": "skipped", "reason": str(exc)}
    tasks = with_retries(
        settings, "reading the tasks", lambda: list(iter_tasks(client, int(project)))
    )
    spec = strategy or settings.acquisition_strategy
    ranking = score_tasks(
        state,
        handler,
        tasks,
        strategy=spec,
        minority=tuple(settings.minority_classes if minority is None else minority),
        history=load_history(settings.model_dir, str(project)),
    )
    ordered, info = ranking.ordered, ranking.details
    handed_on = info.pop("history", {})
    if not ordered:
        log.info("project %s: %s", project, info["note"])
        return {"state": "skipped", "reason": info["note"]}
    results = _with_full_prelabels(tasks, ranking.results, info)
    scored_in = time.perf_counter() - started
    applied = apply_order(
        client, int(project), ordered, results, settings=settings, prune=not prune_later
    )
    save_history(settings.model_dir, str(project), handed_on)  # the order is in force now
    if prune_later and applied["stale_versions"]:
        applied["prune_job"] = state.jobs.submit(
            "prune-rounds", str(project), applied["model_version"],
            key=f"prune-rounds-{project}-{applied['model_version']}",
        )  # fmt: skip
    summary = {
        "state": "applied",
        **info,
        **applied,
        "first_task": ordered[0],
        "score_seconds": round(scored_in, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    _log_round(project, applied, info, ordered)
    return summary


def run_queue_round(state, project: str) -> dict[str, Any]:
    """``reorder_project`` for the scheduler: any failure is logged and returned, not raised."""
    try:
        return reorder_project(state, project, prune_later=True)
    except Exception as exc:  # noqa: BLE001 - the training round itself succeeded
        log.error("project %s: queue round failed; the previous order stays: %s", project, exc)
        return {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
