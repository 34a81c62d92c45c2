"""Label Studio Community serves the unlabeled tasks in acquisition order.

One *queue round* (after a training round, or ``python -m ml_backend reorder --project ID``):

1. read every task (SDK, paginated); labeled = has a usable annotation of the classifier's
   Choices tag, pool = every task that is not labeled;
2. backbone features of all tasks from the feature cache (``$MODEL_DIR/features/<model version>``;
   only new tasks are embedded), class probabilities and MC-dropout samples from the classifier
   head on those features;
3. score the pool with ``ACQUISITION_STRATEGY`` (higher = label sooner), make the first
   ``ACQUISITION_BATCH_DIVERSITY`` positions diverse, giving a full order;
4. apply it with the recipe of shared/reference/label-studio-protocol.md §5.7:
   ``sampling="Uncertainty sampling"`` (+ ``show_collab_predictions``); one prediction per pool
   task with ``model_version="al-<k>"`` and ``score = (rank + 1) / (N + 1)`` (Label Studio serves
   the *lowest* score first; never null) and the classifier's choice as its result; check that
   Label Studio created exactly N; switch ``project.model_version`` to ``al-<k>``; delete older
   ``al-*`` versions; point the Data Manager view "Acquisition order" at
   ``tasks:predictions_score`` ascending.

A round is all or nothing: if Label Studio stores fewer predictions than sent (its bulk import
drops invalid items silently) or a call fails before the switch, the partial ``al-<k>``
predictions are deleted and the project keeps the previous round's version, so the queue keeps
its previous order. The switch is one PATCH; old rounds are removed only after it, by the
``prune-rounds`` job when the round runs after a training (Label Studio deletes predictions one
at a time, so deleting the previous 10 000 took three times as long as the new round; now the
new order is in force in the time of a first round, and the old one goes in the background).

How this coexists with ``REPREDICT_AFTER_TRAINING``: re-prediction stores predictions under the
trained version (``p<project>-v<n>``), the queue round under ``al-<k>``. With
``project.model_version = al-<k>`` Label Studio shows the al-<k> predictions as pre-labels (they
carry the classifier's choice) and no longer calls ``/predict`` live when a task with stored
predictions opens (protocol §5.3); tasks imported after the round get live predictions (they have
none stored) and are served after the ranked ones.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ml_backend.images.fetcher import ImageFetchError
from ml_backend.labelstudio.client import api_request
from ml_backend.training import trainer
from ml_backend.training.annotations import build_training_set, iter_tasks
from ml_backend.training.trainer import TrainingSkipped, _choices_handler, with_retries
from model_zoo.acquisition import AcquisitionContext, acquisition_order, get_strategy
from model_zoo.acquisition.bald import dropout_rate, mc_dropout_probabilities
from model_zoo.storage.feature_cache import FeatureCache, cached_embeddings

log = logging.getLogger(__name__)

ROUND_PREFIX = "al-"
VIEW_TITLE = "Acquisition order"
SAMPLING = "Uncertainty sampling"
MC_SAMPLES = 20
#: Label Studio deletes and imports predictions inline; 10 000 of them take minutes on SQLite
LONG_CALL_SECONDS = 900


class QueueRoundFailed(RuntimeError):
    """The round was not applied; the previous order stays in place (the message says why)."""


# ------------------------------------------------------------------------------- Label Studio
def _api(client, method: str, path: str, **kwargs) -> Any:
    return api_request(client, method, path, timeout=LONG_CALL_SECONDS, **kwargs)


def model_versions(client, project: int) -> dict[str, int]:
    """``{model_version: prediction count}`` of a project."""
    data = _api(client, "GET", f"api/projects/{project}/model-versions/")
    if isinstance(data, list):  # older shape: [{"model_version": v, "count": n}]
        return {str(d.get("model_version")): int(d.get("count", 0)) for d in data}
    return {str(k): int(v) for k, v in (data or {}).items()}


def round_number(version: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(ROUND_PREFIX)}(\d+)", str(version or ""))
    return int(match.group(1)) if match else None


def delete_version(client, project: int, version: str) -> None:
    _api(
        client, "DELETE", f"api/projects/{project}/model-versions", json={"model_version": version}
    )


def delete_rounds(client, project: int, keep: str, versions: list[str]) -> list[str]:
    """Delete the ``al-*`` rounds among ``versions`` older than ``keep`` (never a newer one
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

    version: str  # al-<k>, one past the highest round Label Studio knows
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
    """Apply an order (first = served first) as the next ``al-<k>`` round; all or nothing.

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


# ------------------------------------------------------------------------------- scoring
def _features(state, classifier, tasks: list[dict], image_key: str):
    """Features of ``tasks`` (cached per model version): (features, failed positions, computed)."""
    cache = FeatureCache(state.settings.model_dir / "features")
    urls = [(t.get("data") or {}).get(image_key) for t in tasks]
    keys = [f"{t['id']}:{u}" for t, u in zip(tasks, urls, strict=True)]
    failed: list[int] = []

    def compute(positions: list[int]) -> np.ndarray:
        futures = [
            state.predictor._pool.submit(state.predictor._fetch, urls[i], int(tasks[i]["id"]))
            for i in positions
        ]
        images, ok = [], []
        for i, future in zip(positions, futures, strict=True):
            try:
                images.append(future.result())
                ok.append(i)
            except (ImageFetchError, OSError, ValueError) as exc:
                log.warning("task %s left out of the queue order: %s", tasks[i]["id"], exc)
                failed.append(i)
        feats = classifier.embed(images, batch_size=state.settings.predict_batch_size)
        width = feats.shape[1] if len(ok) else 1
        out = np.full((len(positions), width), np.nan, dtype=np.float32)  # NaN: retried next time
        where = {i: j for j, i in enumerate(positions)}
        for row, i in enumerate(ok):
            out[where[i]] = feats[row]
        return out

    features, computed = cached_embeddings(cache, classifier.version, keys, compute)
    if failed:
        log.warning("%d task image(s) could not be read", len(failed))
    log.info("features: %d of %d computed, the rest from the cache", computed, len(tasks))
    return features, failed, computed


def _results(handler, classifier, probs: np.ndarray) -> list[list[dict]]:
    """A Choices result per row (the handler's scoring; the best choice when none reaches the
    threshold, since every task of the round needs a prediction)."""
    if not handler.label_map(classifier.classes):
        raise QueueRoundFailed(
            f"no choice of <Choices name={handler.control.name!r}> matches a class of the model "
            f"({classifier.classes}); cannot build valid predictions"
        )
    regions = handler.choice_regions(probs, classifier, keep_best=True)
    return [[region.item for region in row] for row in regions]


def score_tasks(state, handler, tasks: list[dict], *, strategy: str, minority: tuple[str, ...]):
    """Rank the unlabeled tasks: ``(ordered task ids, {task id: result}, details)``."""
    settings = state.settings
    training = build_training_set(tasks, handler.control, handler.image_key)
    labeled_label = {e.task_id: e.labels[0] for e in training.examples}
    pool = [t for t in tasks if not t.get("is_labeled") and int(t["id"]) not in labeled_label]
    labeled = [t for t in tasks if int(t["id"]) in labeled_label]
    if not pool:
        return [], {}, {"note": "every task is labeled: nothing to order"}
    classifier = handler.classifier
    features, failed, computed = _features(state, classifier, pool + labeled, handler.image_key)
    bad = set(failed)
    keep_pool = [i for i in range(len(pool)) if i not in bad]
    keep_lab = [j for j in range(len(labeled)) if len(pool) + j not in bad]
    if not keep_pool:
        raise QueueRoundFailed("no image of an unlabeled task could be read; nothing to rank")
    pool_x = features[keep_pool]
    lab_x = features[[len(pool) + j for j in keep_lab]] if keep_lab else None
    lab_y = [labeled_label[int(labeled[j]["id"])] for j in keep_lab]
    x = torch.as_tensor(pool_x)
    probs = classifier.probabilities(classifier.head_logits(x))
    chosen = get_strategy(strategy)
    needs_mc = "bald" in chosen.name
    mc = (
        mc_dropout_probabilities(
            classifier.head_logits,
            pool_x,
            samples=MC_SAMPLES,
            rate=dropout_rate(classifier.model.config),
            multi_label=classifier.multi_label,
        )
        if needs_mc
        else None
    )
    ctx = AcquisitionContext(
        pool_features=pool_x,
        labeled_features=lab_x,
        labeled_labels=lab_y,
        probabilities=probs if classifier.head_trained else None,  # untrained head: noise
        mc_probabilities=mc,
        classes=handler.labels,
        minority=minority,
    )
    scores = chosen.score(ctx)
    order = acquisition_order(scores, pool_x, batch=settings.acquisition_batch_diversity)
    pool_ids = [int(pool[i]["id"]) for i in keep_pool]
    results = _results(handler, classifier, probs)
    ordered = [pool_ids[i] for i in order]
    by_id = {pool_ids[i]: results[i] for i in range(len(pool_ids))}
    details = {
        "strategy": chosen.name,
        "notes": ctx.notes,
        "pool": len(pool),
        "unreadable": len(failed),
        "features_computed": computed,
        "labeled": len(lab_y),
        "model_version": classifier.version,
        "top_score": float(scores[order[0]]),
    }
    return ordered, by_id, details


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
        handler = _choices_handler(state, details.label_config, str(project))
    except TrainingSkipped as exc:
        return {"state": "skipped", "reason": str(exc)}
    tasks = with_retries(
        settings, "reading the tasks", lambda: list(iter_tasks(client, int(project)))
    )
    spec = strategy or settings.acquisition_strategy
    ordered, results, info = score_tasks(
        state,
        handler,
        tasks,
        strategy=spec,
        minority=tuple(settings.minority_classes if minority is None else minority),
    )
    if not ordered:
        log.info("project %s: %s", project, info["note"])
        return {"state": "skipped", "reason": info["note"]}
    results = _with_full_prelabels(tasks, results, info)
    scored_in = time.perf_counter() - started
    applied = apply_order(
        client, int(project), ordered, results, settings=settings, prune=not prune_later
    )
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
