"""One training round for a Label Studio project, start to finish.

pull every annotation (SDK, paginated, retried with back-off) → training set for the Choices tag
the classifier serves → download the images → fine-tune a fresh copy of the project's current
model (head, then top blocks; hold-out split; early stopping) → write a new version to the model
store (temporary directory, renamed into place; live pointer switched atomically). The
re-prediction of the unlabeled tasks and the queue round follow as jobs of their own
(:mod:`ml_backend.jobs.followups`).

The serving model is never touched: a crash anywhere leaves the previous version live. This
module runs in a job thread of the web process, or in an ``rq worker`` (:mod:`ml_backend.jobs.worker`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from ml_backend.controls.brush_cam import CamBrushHandler
from ml_backend.controls.choices import ChoicesHandler
from ml_backend.settings import Settings
from ml_backend.training.annotations import build_training_set, iter_tasks
from ml_backend.training.segmentation_round import SEGMENTATION_FOLDER, train_round_segmentation
from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.training import TrainConfig, fine_tune
from model_zoo.data.dataset import open_image
from model_zoo.data.synthetic_mix import plan_mix

log = logging.getLogger(__name__)
T = TypeVar("T")


class TrainingSkipped(Exception):
    """Nothing to train on yet (too few labels, one class); not an error."""


class LabelStudioUnavailable(RuntimeError):
    """Label Studio did not answer (after retries): the round is tried again later."""


class LabelStudioRejected(RuntimeError):
    """Label Studio answered with a 4xx (unknown project, bad token): retrying cannot help."""

    def __init__(self, message: str, status_code: int | None):
        super().__init__(message)
        self.status_code = status_code


#: what a Label Studio outage looks like from here: the connection fails or times out (httpx for
#: the SDK, requests for image downloads, plain OSError subclasses) or Label Studio answers 5xx,
#: 408 or 429. Every other exception is a local error and is raised at once, never retried.
_TRANSIENT_STATUS = frozenset({408, 429})


def is_label_studio_outage(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status in _TRANSIENT_STATUS
    import httpx
    import requests

    transport = (httpx.TransportError, requests.ConnectionError, requests.Timeout)
    return isinstance(exc, (*transport, ConnectionError, TimeoutError))


def with_retries(settings: Settings, what: str, call: Callable[[], T]) -> T:
    """Call Label Studio, retrying outages (connection errors, 5xx) with exponential back-off.

    A 4xx answer raises :class:`LabelStudioRejected` at once; a local error (a bug, bad data,
    a full disk) propagates unchanged at once: neither is retried."""
    delay = settings.ls_retry_seconds
    for attempt in range(1, settings.ls_retries + 1):
        try:
            return call()
        except Exception as exc:  # the SDK raises httpx errors and ApiError
            status = getattr(exc, "status_code", None)
            if not is_label_studio_outage(exc) and not isinstance(status, int):
                raise  # a local error: retrying would only repeat it
            hint = (
                f"Check that Label Studio is reachable at LABEL_STUDIO_URL={settings.label_studio_url!r} "
                "and that LABEL_STUDIO_API_KEY is valid."
            )
            message = (
                f"{what} failed after {attempt} attempt(s): {type(exc).__name__}: {exc}. {hint}"
            )
            if not is_label_studio_outage(exc):
                raise LabelStudioRejected(message, status) from exc
            if attempt == settings.ls_retries:
                raise LabelStudioUnavailable(message) from exc
            log.warning(
                "%s failed (%s), retrying in %.1fs (%d/%d)",
                what,
                exc,
                delay,
                attempt,
                settings.ls_retries,
            )
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def ls_client(settings: Settings):
    if not settings.label_studio_url or not settings.api_key:
        raise RuntimeError(
            "training needs LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to read the annotations"
        )
    from ml_backend.labelstudio.project import client_for

    return client_for(settings.label_studio_url, settings.api_key)


def _choices_handler(state, label_config: str, project: str) -> ChoicesHandler:
    _, handlers = state.predictor.handlers(label_config, project)
    for handler in handlers:
        if isinstance(handler, ChoicesHandler):
            return handler
    raise TrainingSkipped("the label config has no <Choices> on an <Image>: nothing to train")


def _brush_handler(state, label_config: str, project: str) -> CamBrushHandler | None:
    _, handlers = state.predictor.handlers(label_config, project)
    return next((h for h in handlers if isinstance(h, CamBrushHandler)), None)


def _segmentation_step(state, label_config, project, classifier, examples, training_set):
    """Model (or None) and the version's ``segmentation`` record; never raises."""
    try:
        handler = _brush_handler(state, label_config, project)
        if handler is None:
            return None, {"status": "skipped", "reason": "no defect <BrushLabels> in the config"}
        brush = {e.task_id: e.brush for e in training_set.examples}
        rows = [(image, task_id, brush.get(task_id, [])) for image, _, task_id in examples]
        return train_round_segmentation(state.settings, handler, classifier, rows)
    except Exception as exc:  # the classifier's version must survive any of it
        log.exception("project %s: segmentation training failed", project)
        return None, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def _split(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``fraction`` of each first-label group (groups of one stay in training)."""
    rng = random.Random(seed)
    groups: dict[str, list] = {}
    for example in examples:
        groups.setdefault(example[1][0], []).append(example)
    train, val = [], []
    for items in groups.values():
        rng.shuffle(items)
        n_val = int(round(len(items) * fraction)) if len(items) >= 2 else 0
        n_val = min(n_val, len(items) - 1)
        val.extend(items[:n_val])
        train.extend(items[n_val:])
    return train, val


def train_project(
    state, project: str, *, progress: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Train a new version for ``project``; returns a summary (version, metrics, counts)."""
    settings: Settings = state.settings
    report = progress or (lambda **_: None)
    client = ls_client(settings)
    started = time.perf_counter()

    report(stage="reading the project", progress=0.02)
    details = with_retries(
        settings, "reading the project", lambda: client.projects.get(id=int(project))
    )
    label_config = details.label_config
    handler = _choices_handler(state, label_config, project)
    tasks = with_retries(
        settings, "reading the annotations", lambda: list(iter_tasks(client, int(project)))
    )
    training_set = build_training_set(tasks, handler.control, handler.image_key)
    summary = training_set.summary()
    log.info("project %s: %s", project, summary)
    distinct = {label for e in training_set.examples for label in e.labels}
    if len(training_set.examples) < 2 or len(distinct) < 2:
        raise TrainingSkipped(
            f"need labeled images of at least two classes; have {len(training_set.examples)} "
            f"example(s) of {sorted(distinct)}"
        )

    report(stage=f"downloading {len(training_set.examples)} images", progress=0.1)
    labels = handler.labels
    index = {label: i for i, label in enumerate(labels)}
    examples, failed = [], 0
    fetched = state.predictor.fetch_images(
        [(e.image_url, e.task_id) for e in training_set.examples]
    )
    for example, got in zip(training_set.examples, fetched, strict=True):
        if isinstance(got, str):
            failed += 1
            log.warning("task %s left out of training: %s", example.task_id, got)
        else:
            examples.append((got, [index[label] for label in example.labels], example.task_id))
    if len({e[1][0] for e in examples}) < 2:
        raise TrainingSkipped(f"after download failures ({failed}) fewer than two classes remain")

    multi = handler.multiple and any(len(e[1]) > 1 for e in examples)
    base = (
        handler.model_name
    )  # the live version if there is one (continued), else the configured model
    classifier = load_classifier(
        base, labels, model_dir=settings.model_dir, device=settings.device, multi_label=multi
    )
    if (
        classifier.classes != labels
    ):  # a live version for other labels: start from the configured model
        classifier = load_classifier(
            handler.configured_model_name,
            labels,
            model_dir=settings.model_dir,
            device=settings.device,
            multi_label=multi,
        )
    train, val = _split(examples, settings.train_val_fraction, seed=len(examples))
    counts = {label: sum(y[0] == i for _, y, _ in train) for i, label in enumerate(labels)}
    mix = plan_mix(settings.synthetic_dir or None, counts, settings.minority_classes)
    train += [(open_image(path), [index[label]], None) for path, label in mix.images]
    as_target = (lambda y: y) if multi else (lambda y: y[0])
    report(stage=f"fine-tuning on {len(train)} images ({len(val)} held out)", progress=0.2)
    epochs = settings.train_epochs

    def on_epoch(record):
        report(
            stage=f"epoch {record['epoch']}/{epochs}",
            progress=0.2 + 0.6 * record["epoch"] / epochs,
            last_epoch=record,
        )

    result = fine_tune(
        classifier,
        [(im, as_target(y)) for im, y, _ in train],
        [(im, as_target(y)) for im, y, _ in val],
        TrainConfig(
            epochs=epochs,
            train_blocks=settings.train_blocks,
            input_size=settings.train_input_size or None,
            progress=False,
        ),
        on_epoch=on_epoch,
    )

    report(stage="training the segmentation model on the submitted masks", progress=0.8)
    segmentation, seg_record = _segmentation_step(
        state, label_config, project, classifier, examples, training_set
    )

    def write(tmp):
        classifier.save(tmp, version=version)
        if segmentation is not None:
            segmentation.save(tmp / SEGMENTATION_FOLDER)

    report(stage="saving the new version", progress=0.85)
    store = state.models.store
    scope = state.models.project_scope(project)
    parent = store.live_version(scope)
    version = store.next_version(scope, prefix=f"p{project}-v")
    meta = {
        "parent": parent,
        "base_model": classifier.meta.get("base_model", base),
        "project": project,
        "control": handler.control.name,
        "label_count": len(examples),
        "labels": labels,
        "metrics": result.metrics,
        "history": result.history,
        "training_set": {**summary, "download_failures": failed},
        **mix.summary(),
        "trained_at": datetime.now(timezone.utc).isoformat(),
        "train_seconds": round(result.seconds, 2),
        "segmentation": seg_record,
    }
    store.add_version(scope, version, write, meta)
    log.info(
        "project %s: new live version %s (parent %s), hold-out accuracy %s",
        project,
        version,
        parent,
        result.metrics.get("accuracy"),
    )
    return {
        "version": version,
        "parent": parent,
        "metrics": {k: v for k, v in result.metrics.items() if k != "per_class"},
        "examples": len(examples),
        "segmentation": {k: v for k, v in seg_record.items() if k != "mask_problems"},
        "seconds": round(time.perf_counter() - started, 2),
    }
