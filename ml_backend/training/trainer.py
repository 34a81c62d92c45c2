"""One training round for a Label Studio project, start to finish.

pull every annotation (SDK, paginated, retried with back-off) → training set for the Choices tag
the classifier serves → download the images → **the fast version**: a linear head fitted in
seconds on the frozen backbone's features (scored on the hold-out split, then refitted on every
label), written to the model store and made live at once → **the full version**, in the same
background job: the segmentation model on the submitted masks and, from ``FINETUNE_MIN_LABELS``
labels on, the top blocks fine-tuned, which replaces the fast head only when it scores better on
the same hold-out split. Each version records which classes it learned and the per-class
thresholds fitted on the hold-out split (:mod:`model_zoo.classifier.decision`). Every write goes to
a temporary directory, renamed into place; the live pointer switches atomically. The
re-prediction of the unlabeled tasks and the queue round follow as jobs of their own
(:mod:`ml_backend.jobs.followups`).

A round needs two classes with ``TRAIN_MIN_PER_CLASS`` labeled images each; before that it is
skipped with a message that says how many are missing.

The serving model is never touched: a crash anywhere leaves the previous version live. This
module runs in a job thread of the web process, or in an ``rq worker`` (:mod:`ml_backend.jobs.worker`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from PIL import Image

from ml_backend.controls.brush_cam import CamBrushHandler
from ml_backend.controls.choices import ChoicesHandler
from ml_backend.labelstudio.retries import (  # noqa: F401 - re-exported: callers and tests use them here
    LabelStudioRejected,
    LabelStudioUnavailable,
    is_label_studio_outage,
    ls_client,
    with_retries,
)
from ml_backend.settings import Settings
from ml_backend.training.annotations import TrainingSet, build_training_set, iter_tasks
from ml_backend.training.carried_segmentation import CarriedSegmentation
from ml_backend.training.classifier_round import (
    ClassifierVersion,
    RoundData,
    fast_version,
    full_version,
)
from ml_backend.training.segmentation_round import (
    SEGMENTATION_FOLDER,
    AnnotatedImage,
    train_round_segmentation,
)
from ml_backend.training.unlabeled_pool import round_pool
from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.training import TrainConfig
from model_zoo.data.dataset import open_image
from model_zoo.data.synthetic_mix import SyntheticMix, plan_mix

log = logging.getLogger(__name__)


class TrainingSkipped(Exception):
    """Nothing to train on yet (too few labels, one class); not an error."""


def choices_handler(state, label_config: str, project: str) -> ChoicesHandler:
    _, handlers = state.predictor.handlers(label_config, project)
    for handler in handlers:
        if isinstance(handler, ChoicesHandler):
            return handler
    raise TrainingSkipped("the label config has no <Choices> on an <Image>: nothing to train")


def _brush_handler(state, label_config: str, project: str) -> CamBrushHandler | None:
    _, handlers = state.predictor.handlers(label_config, project)
    return next((h for h in handlers if isinstance(h, CamBrushHandler)), None)


@dataclass
class LabeledExample:
    """One training image of a round: its class indices (``targets``, in the order annotated;
    the first decides its hold-out group) and the task it came from (None: synthetic)."""

    image: Image.Image
    targets: list[int]
    task_id: int | None = None

    def target(self, multi_label: bool) -> int | list[int]:
        """What :func:`fine_tune` learns: every index (multi-label) or the first one."""
        return self.targets if multi_label else self.targets[0]


@dataclass
class _Annotations:
    """What a round reads from Label Studio."""

    label_config: str
    handler: ChoicesHandler
    training_set: TrainingSet
    tasks: list[dict]


@dataclass
class _Downloaded:
    """The examples whose image could be read, and how many could not."""

    examples: list[LabeledExample]
    failed: int


@dataclass
class _TrainingData:
    """The hold-out split, with the synthetic images mixed into the training part."""

    train: list[LabeledExample]
    val: list[LabeledExample]
    mix: SyntheticMix


@dataclass
class _StoredVersion:
    version: str
    parent: str | None


def _segmentation_step(state, label_config, project, classifier, examples, training_set):
    """Model (or None) and the version's ``segmentation`` record; never raises."""
    try:
        handler = _brush_handler(state, label_config, project)
        if handler is None:
            return None, {"status": "skipped", "reason": "no defect <BrushLabels> in the config"}
        brush = {e.task_id: e.brush for e in training_set.examples}
        rows = [
            AnnotatedImage(
                e.image,
                e.task_id,
                brush.get(e.task_id, []),
                [classifier.classes[t] for t in e.targets] if classifier is not None else [],
            )
            for e in examples
        ]
        return train_round_segmentation(state.settings, handler, classifier, rows)
    except Exception as exc:  # the classifier's version must survive any of it
        log.exception("project %s: segmentation training failed", project)
        return None, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def _split(
    examples: list[LabeledExample], fraction: float, seed: int
) -> tuple[list[LabeledExample], list[LabeledExample]]:
    """Hold out ``fraction`` of each first-label group (groups of one stay in training)."""
    rng = random.Random(seed)
    groups: dict[int, list[LabeledExample]] = {}
    for example in examples:
        groups.setdefault(example.targets[0], []).append(example)
    train, val = [], []
    for items in groups.values():
        rng.shuffle(items)
        n_val = int(round(len(items) * fraction)) if len(items) >= 2 else 0
        n_val = min(n_val, len(items) - 1)
        val.extend(items[:n_val])
        train.extend(items[n_val:])
    return train, val


def _read_annotations(state, client, project: str) -> _Annotations:
    """The label config, its Choices handler and the training set; skips a round that has
    fewer than two examples or one class only."""
    settings: Settings = state.settings
    details = with_retries(
        settings, "reading the project", lambda: client.projects.get(id=int(project))
    )
    handler = choices_handler(state, details.label_config, project)
    tasks = with_retries(
        settings, "reading the annotations", lambda: list(iter_tasks(client, int(project)))
    )
    training_set = build_training_set(tasks, handler.control, handler.image_key)
    log.info("project %s: %s", project, training_set.summary())
    shortfall = labels_missing(training_set.summary()["label_counts"], settings.train_min_per_class)
    if shortfall:
        raise TrainingSkipped(shortfall)
    return _Annotations(details.label_config, handler, training_set, tasks)


def labels_missing(label_counts: dict[str, int], minimum: int) -> str | None:
    """Why a round cannot train yet (None: it can): two classes need ``minimum`` labeled
    images each. The message counts the labels still missing, for ``/health``."""
    counts = sorted(label_counts.items(), key=lambda kv: -kv[1])
    missing = sum(max(0, minimum - n) for _label, n in (counts + [("", 0), ("", 0)])[:2])
    if missing == 0:
        return None
    total = sum(label_counts.values())
    have = ", ".join(f"{n} {label}" for label, n in counts) or "none yet"
    return (
        f"{total} of {total + missing} labels for the first round: it needs {minimum} labeled "
        f"images of each of two classes ({have})"
    )


def _download(state, labels: list[str], training_set: TrainingSet) -> _Downloaded:
    """The images of the training set (a failed download leaves its task out)."""
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
            targets = [index[label] for label in example.labels]
            examples.append(LabeledExample(got, targets, example.task_id))
    counts: dict[str, int] = {}
    for example in examples:
        for target in example.targets:
            counts[labels[target]] = counts.get(labels[target], 0) + 1
    shortfall = labels_missing(counts, state.settings.train_min_per_class)
    if shortfall:
        raise TrainingSkipped(f"{failed} image(s) could not be downloaded; {shortfall}")
    return _Downloaded(examples, failed)


def _round_classifier(settings: Settings, handler: ChoicesHandler, base: str, multi: bool):
    """A fresh copy of ``base`` (the live version, continued, else the configured model); a
    live version trained for other labels starts over from the configured model."""

    def load(name: str):
        return load_classifier(
            name,
            handler.labels,
            model_dir=settings.model_dir,
            device=settings.device,
            multi_label=multi,
        )

    classifier = load(base)
    if classifier.classes != handler.labels:
        classifier = load(handler.configured_model_name)
    return classifier


def _training_data(
    settings: Settings, labels: list[str], examples: list[LabeledExample]
) -> _TrainingData:
    """Split off the hold-out, then mix synthetic images into the minority classes' training part."""
    train, val = _split(examples, settings.train_val_fraction, seed=len(examples))
    counts = {label: sum(e.targets[0] == i for e in train) for i, label in enumerate(labels)}
    mix = plan_mix(settings.synthetic_dir or None, counts, settings.minority_classes)
    index = {label: i for i, label in enumerate(labels)}
    train += [LabeledExample(open_image(path), [index[label]]) for path, label in mix.images]
    return _TrainingData(train, val, mix)


def _round_data(data: _TrainingData, labels: list[str], multi: bool) -> RoundData:
    return RoundData(
        [(e.image, e.target(multi)) for e in data.train],
        [(e.image, e.target(multi)) for e in data.val],
        labels,
        multi,
    )


def _full_config(settings: Settings) -> TrainConfig:
    return TrainConfig(
        epochs=settings.train_epochs,
        train_blocks=settings.train_blocks,
        input_size=settings.train_input_size or None,
        progress=False,
        self_training=settings.train_self_training,
        unlabeled_max=settings.train_unlabeled_max,
    )


def _full_classifier(settings, make, data: RoundData, fast: ClassifierVersion, report, features):
    """The fine-tuned version when there are enough labels and it beats ``fast`` (else None),
    and what the round says about it."""
    if len(data.train) + len(data.val) < settings.finetune_min_labels:
        return None, (
            f"fast head only: fine-tuning starts at {settings.finetune_min_labels} labeled "
            "images (FINETUNE_MIN_LABELS)"
        )
    epochs = settings.train_epochs
    report(
        stage=f"fine-tuning on {len(data.train)} images ({len(data.val)} held out)", progress=0.4
    )

    def on_epoch(record):
        report(
            stage=f"epoch {record['epoch']}/{epochs}",
            progress=0.4 + 0.4 * record["epoch"] / epochs,
            last_epoch=record,
        )

    return full_version(
        make, data, _full_config(settings), fast, on_epoch=on_epoch, unlabeled_features=features
    )


def _store_version(
    state, project: str, classifier, segmentation, meta: dict, carried: CarriedSegmentation
) -> _StoredVersion:
    """Write the classifier and the segmentation model (this round's, else the ``carried`` one,
    if any) as the project's next version and make it live; ``meta`` is recorded after its
    ``parent``."""
    store = state.models.store
    scope = state.models.project_scope(project)
    parent = store.live_version(scope)
    version = store.next_version(scope, prefix=f"p{project}-v")

    def write(tmp):
        classifier.save(tmp, version=version)
        if segmentation is not None:
            segmentation.save(tmp / SEGMENTATION_FOLDER)
        else:
            carried.copy_into(tmp)

    store.add_version(scope, version, write, {"parent": parent, **meta})
    return _StoredVersion(version, parent)


def _version_meta(round_: _Round, version: ClassifierVersion, seg_record: dict) -> dict:
    return {
        "base_model": version.classifier.meta.get("base_model", round_.base),
        "project": round_.project,
        "control": round_.handler.control.name,
        "label_count": len(round_.examples),
        "labels": round_.handler.labels,
        "training_set": round_.training_summary,
        "unlabeled_pool": round_.unlabeled_pool,
        **round_.data.mix.summary(),
        "trained_at": datetime.now(timezone.utc).isoformat(),
        **version.meta(),
        "segmentation": seg_record,
    }


@dataclass
class _Round:
    """What every step of one round reads."""

    project: str
    handler: ChoicesHandler
    base: str
    examples: list[LabeledExample]
    data: _TrainingData
    training_summary: dict
    unlabeled_pool: dict = field(default_factory=dict)


def _prepare_round(state, client, project: str, report) -> tuple[_Round, _Annotations, bool]:
    settings: Settings = state.settings
    report(stage="reading the project", progress=0.02)
    annotations = _read_annotations(state, client, project)
    handler, training_set = annotations.handler, annotations.training_set
    report(stage=f"downloading {len(training_set.examples)} images", progress=0.1)
    downloaded = _download(state, handler.labels, training_set)
    examples = downloaded.examples
    multi = handler.multiple and any(len(e.targets) > 1 for e in examples)
    summary = {**training_set.summary(), "download_failures": downloaded.failed}
    round_ = _Round(
        project,
        handler,
        handler.model_name,  # the live version if there is one, else the configured model
        examples,
        _training_data(settings, handler.labels, examples),
        summary,
    )
    return round_, annotations, multi


def _store_second(state, round_: _Round, first, chosen, segmentation, step, carried, report):
    """Store the round's second version (the fine-tuned classifier or the segmentation model)
    and make it live; with neither, the fast version stays and its record says what the
    segmentation step (``step``) did. Returns what serves."""
    record = step if segmentation is not None else carried.final_record(step)
    if chosen.stage == "fast" and segmentation is None:
        scope = state.models.project_scope(round_.project)
        state.models.store.update_meta(scope, first.version, {"segmentation": record})
        return first
    report(stage="saving the full version", progress=0.85)
    return _store_version(
        state, round_.project, chosen.classifier, segmentation,
        _version_meta(round_, chosen, record), carried,
    )  # fmt: skip


def train_project(
    state, project: str, *, progress: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Train the fast version of ``project`` (live within seconds), then the full one when it
    pays; returns a summary (versions, metrics, counts)."""
    settings: Settings = state.settings
    report = progress or (lambda **_: None)
    started = time.perf_counter()
    round_, annotations, multi = _prepare_round(state, ls_client(settings), project, report)
    data = _round_data(round_.data, round_.handler.labels, multi)

    def make():
        return _round_classifier(settings, round_.handler, round_.base, multi)

    if settings.train_self_training:
        report(stage="reading the unlabeled tasks", progress=0.15)
    embedder = make() if settings.train_self_training else None  # pooled features only
    pool = round_pool(
        state, embedder, annotations.tasks, annotations.training_set, round_.handler.image_key
    )
    round_.unlabeled_pool = pool.summary()
    report(stage=f"fitting the fast head on {len(round_.examples)} labeled images", progress=0.2)
    fast = fast_version(
        make, data, settings.train_input_size or None, settings.train_self_training, pool.features
    )
    carried = CarriedSegmentation.of_live(state.models.store, state.models.project_scope(project))
    first = _store_version(
        state, project, fast.classifier, None,
        _version_meta(round_, fast, carried.pending_record()), carried,
    )  # fmt: skip
    report(stage=f"{first.version} (fast head) is live", progress=0.3, live_version=first.version)
    full, why = _full_classifier(settings, make, data, fast, report, pool.features)
    chosen = full or fast
    report(stage="training the segmentation model on the submitted masks", progress=0.8)
    segmentation, seg_record = _segmentation_step(
        state, annotations.label_config, project, chosen.classifier, round_.examples,
        annotations.training_set,
    )  # fmt: skip
    stored = _store_second(state, round_, first, chosen, segmentation, seg_record, carried, report)
    log.info(
        "project %s: live version %s (%s), hold-out accuracy %s",
        project, stored.version, chosen.stage, chosen.metrics.get("accuracy"),
    )  # fmt: skip
    return {
        "version": stored.version,
        "parent": stored.parent,
        "fast_version": first.version,
        "stage": chosen.stage,
        "fine_tune": why,
        "metrics": {k: v for k, v in chosen.metrics.items() if k != "per_class"},
        "examples": len(round_.examples),
        "segmentation": {k: v for k, v in seg_record.items() if k != "mask_problems"},
        "seconds": round(time.perf_counter() - started, 2),
    }
