"""Bulk pre-annotation of a project: plan the job, then predict and push it chunk by chunk.

``plan`` lists the project's tasks, keeps those that need a prediction of the current model
version (``--all`` or only the unlabeled ones) and writes the chunks
(:mod:`ml_backend.jobs.prelabel_records`). ``run_chunk`` reads its tasks back from Label Studio,
skips every task that already holds this version's prediction, predicts the rest with the same
:class:`~ml_backend.serving.predictor.Predictor` as ``/predict`` (one batch) and imports the
predictions in bulk. Because of that check, a chunk can run again after a crash, a killed worker
or a Label Studio outage without giving a task a second prediction of the version.

A task whose image is broken gets no prediction and is reported in the chunk's ``task_errors``;
if one bad task failed a whole batch, the batch's tasks are predicted again one by one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ml_backend.jobs.prelabel_records import PrelabelRecords, job_id_for
from ml_backend.labelstudio import bulk
from ml_backend.labelstudio.retries import (
    LabelStudioUnavailable,
    is_label_studio_outage,
    ls_client,
    with_retries,
)
from ml_backend.server import metrics

log = logging.getLogger(__name__)

MODES = ("unlabeled", "all")


class PrelabelError(ValueError):
    """The job cannot start (bad mode, wrong model version); the message says what to do."""


def records_for(state) -> PrelabelRecords:
    return PrelabelRecords(state.settings.model_dir / "jobs")


def _wanted(task: dict, mode: str, version: str) -> bool:
    if mode == "unlabeled" and task["is_labeled"]:
        return False
    return version not in task["versions"]


def plan(state, project: int, mode: str = "unlabeled", version: str | None = None) -> dict:
    """Create (or continue) the pre-label job of ``project``; returns its summary."""
    if mode not in MODES:
        raise PrelabelError(f"mode must be one of {MODES}, not {mode!r}")
    settings = state.settings
    client = ls_client(settings)
    config = with_retries(
        settings, "reading the label config", lambda: bulk.label_config(client, project)
    )
    current = state.predictor.setup(config, str(project))
    if version and version != current:
        raise PrelabelError(
            f"project {project} predicts with {current!r}, not {version!r}: make {version!r} live "
            f"first (`python -m ml_backend rollback --project {project} --version {version}`)"
        )
    records = records_for(state)
    job_id = job_id_for(project, mode, current)
    existing = records.summary(job_id)
    if existing and existing["state"] in {"queued", "running", "failed"}:
        for index in records.unfinished(job_id):  # continue where it stopped
            records.update_chunk(job_id, index, state="pending")
        records.update_meta(job_id, state="queued", resumed_at=time.time())
        log.info(
            "pre-label %s continues: %d chunk(s) left", job_id, len(records.unfinished(job_id))
        )
        return records.summary(job_id)
    tasks = with_retries(
        settings, "listing the tasks", lambda: list(bulk.iter_task_summaries(client, project))
    )
    todo = [t["id"] for t in tasks if _wanted(t, mode, current)]
    in_scope = [t for t in tasks if mode == "all" or not t["is_labeled"]]
    size = max(1, settings.prelabel_chunk_size)
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    meta = {"kind": "prelabel", "project": project, "mode": mode, "model_version": current,
            "label_config": config, "total": len(in_scope), "planned_skipped": len(in_scope) - len(todo)}  # fmt: skip
    records.create(job_id, meta, chunks)
    log.info("pre-label %s: %d task(s) in %d chunk(s), %d already predicted",
             job_id, len(todo), len(chunks), meta["planned_skipped"])  # fmt: skip
    return records.summary(job_id)


def _pipelined(state, tasks: list[dict], config: str, project: str):
    """Predict in batches of PREDICT_BATCH_SIZE while one thread fetches the next batch's images
    (download and decode hidden behind compute; at most two batches of pixels held)."""
    size = max(1, state.settings.predict_batch_size)
    first = max(1, size // 4)  # nothing computes while the first batch downloads: keep it small
    bounds = [0, *range(min(first, len(tasks)), len(tasks), size), len(tasks)]
    batches = [tasks[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    results: list = []
    errors: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as ahead:
        upcoming = ahead.submit(state.predictor.prefetch, batches[0], config, project)
        for k, batch in enumerate(batches):
            fetched = upcoming.result()
            if k + 1 < len(batches):
                upcoming = ahead.submit(state.predictor.prefetch, batches[k + 1], config, project)
            outcome = state.predictor.predict(batch, config, project, prefetched=fetched)
            errors.update({len(results) + e["index"]: e["error"] for e in outcome.errors})
            results.extend(outcome.results)
            del fetched
    return results, errors


def predict_isolated(state, tasks: list[dict], config: str, project: str):
    """Predict in batches (:func:`_pipelined`), then try every failed task once more on its own:
    one broken task cannot take its batch down, and a passing failure (a download cut off)
    does not cost a prediction. Returns ``(results, {task id: error})``. A job timeout is a
    BaseException (:mod:`ml_backend.jobs.rq_worker`): it is never taken for a task's failure."""
    if not tasks:
        return [], {}
    results, errors = _pipelined(state, tasks, config, project)
    for index in list(errors):
        single = state.predictor.predict([tasks[index]], config, project)
        if not single.errors:
            results[index] = single.results[0]
            del errors[index]
        else:
            errors[index] = single.errors[0]["error"]
    return results, {int(tasks[i]["id"]): e for i, e in errors.items()}


def _missing(client, project: int, ids: list[int], version: str) -> list[dict]:
    """The tasks among ``ids`` (still existing) without a prediction of ``version``."""
    return [t for t in bulk.tasks_by_id(client, project, ids)
            if version not in bulk.prediction_versions(t)]  # fmt: skip


def _push(settings, client, project: int, items: list[dict], version: str) -> int:
    """Import, and if the call fails, re-check before trying again: never a duplicate."""
    delay = settings.ls_retry_seconds
    for attempt in range(1, settings.ls_retries + 1):
        try:
            return bulk.import_predictions(client, project, items)
        except Exception as exc:
            if attempt == settings.ls_retries:
                raise LabelStudioUnavailable(f"importing predictions failed: {exc}") from exc
            log.warning(
                "importing predictions failed (%s); checking and retrying in %.1fs", exc, delay
            )
            time.sleep(delay)
            delay *= 2
            ids = [i["task"] for i in items]
            still = {int(t["id"]) for t in with_retries(
                settings, "re-reading tasks", lambda ids=ids: _missing(client, project, ids, version))}  # fmt: skip
            items = [i for i in items if i["task"] in still]
            if not items:
                return 0
    raise AssertionError("unreachable")


def _outage_check(settings, client, project: int) -> None:
    """Images that failed may have failed because Label Studio (which serves uploads and local
    files) went away: one call without retries tells. If it does not answer, the chunk fails
    as an outage (retried later, whole) instead of reporting its tasks as broken."""
    try:
        bulk.label_config(client, project)
    except Exception as exc:
        if is_label_studio_outage(exc):
            raise LabelStudioUnavailable(
                f"Label Studio stopped answering during the chunk ({type(exc).__name__}: {exc}); "
                "the chunk is tried again later"
            ) from exc


def run_chunk(state, job_id: str, index: int) -> dict:
    """Predict and push one chunk; safe to run again (done chunks return at once)."""
    records = records_for(state)
    meta, chunk = records.meta(job_id), records.chunk(job_id, index)
    if not meta or not chunk:
        raise PrelabelError(f"no chunk {index} of job {job_id}")
    if chunk.get("state") == "done":
        return chunk
    settings, project, version = state.settings, int(meta["project"]), meta["model_version"]
    worker = f"{socket.gethostname()}:{os.getpid()}"
    records.update_chunk(job_id, index, state="running", worker=worker,
                         attempts=int(chunk.get("attempts", 0)) + 1, started_at=time.time())  # fmt: skip
    ids = [int(i) for i in chunk["tasks"]]
    try:
        client = ls_client(settings)
        todo = with_retries(
            settings, "reading tasks", lambda: _missing(client, project, ids, version)
        )
        results, errors = (
            predict_isolated(state, todo, meta["label_config"], str(project)) if todo else ([], {})
        )
        if errors:
            _outage_check(settings, client, project)
        items = [{"task": int(t["id"]), "result": r["result"], "score": r["score"], "model_version": version}
                 for t, r in zip(todo, results, strict=True) if isinstance(r, dict)]  # fmt: skip
        pushed = _push(settings, client, project, items, version) if items else 0
    except Exception as exc:
        records.update_chunk(job_id, index, state="failed", error=f"{type(exc).__name__}: {exc}")
        metrics.PRELABEL_CHUNKS.labels(result="failed").inc()
        raise
    if pushed < len(items):
        errors.update({i["task"]: "Label Studio dropped the prediction (failed its validation)"
                       for i in items[pushed:]})  # fmt: skip
    task_errors = [{"task": t, "error": e} for t, e in errors.items()]
    for item in task_errors:
        log.warning("pre-label %s: task %s skipped: %s", job_id, item["task"], item["error"])
    done = records.update_chunk(
        job_id, index, state="done", error=None, finished_at=time.time(),
        predicted=len(todo) - len(errors), pushed=pushed, skipped=len(ids) - len(todo),
        failed=len(errors), task_errors=task_errors,
    )  # fmt: skip
    metrics.PRELABEL_CHUNKS.labels(result="done").inc()
    metrics.PRELABEL_TASKS.labels(outcome="pushed").inc(pushed)
    metrics.PRELABEL_TASKS.labels(outcome="skipped").inc(len(ids) - len(todo))
    metrics.PRELABEL_TASKS.labels(outcome="failed").inc(len(errors))
    return done
