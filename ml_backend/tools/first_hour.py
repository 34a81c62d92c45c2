"""``python -m ml_backend first-hour``: a new project's first hour, walked and measured.

What an annotator meets, against a real Label Studio 1.23.2 and the backend (the default model,
a fresh ``MODEL_DIR``): a project with ``label_config/defects.xml`` and ``--tasks`` images of a
folder in the dataset layout (``images/<class>/``, class names matched to the config's choices),
then

1. **cold**: "Retrieve Predictions" before any label;
2. **first labels**: ``--labels-per-class`` annotations per class submitted through the API (each
   fires the training webhook, as an annotator's would); the seconds until the backend serves a
   trained version, then the predictions of every other task;
3. **more labels** (``--then-per-class``): the same again once that many labels per class exist.

Each stage reports the tasks with a prediction, with choices and with mask regions, the tasks
naming "No defect" beside a defect, the tasks naming a class nobody labeled, and the share of the
other tasks whose top choice is right (beside always answering the larger class).

    python -m ml_backend first-hour --data ../shared/realdata/wall/tiles --tasks 120 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from PIL import Image

from ml_backend.controls.brush import decode_mask
from ml_backend.controls.label_config import label_aliases
from ml_backend.labelstudio.project import (
    annotate_choices,
    client_for,
    connect_backend,
    create_project,
    predictions,
    retrieve_predictions,
    upload_images,
)
from ml_backend.tools.local_backend import LocalBackend
from ml_backend.tools.local_label_studio import LocalLabelStudio
from model_zoo.classifier.model import canonical_class_name

REPO_ROOT = Path(__file__).resolve().parents[2]
LABEL_CONFIG = REPO_ROOT / "label_config" / "defects.xml"
CHOICES_TAG = "defect"
NO_DEFECT = "No defect"


@dataclass
class Task:
    id: int
    label: str  # the true choice
    labeled: bool = False
    path: Path | None = None  # the image file it was made from


@dataclass
class Stage:
    """What the stored predictions of one stage say about the tasks that were not labeled."""

    name: str
    labels: int
    tasks: int
    with_prediction: int = 0
    with_choices: int = 0
    with_regions: int = 0
    regions: int = 0
    defect_and_no_defect: int = 0
    unlabeled_class_named: int = 0
    no_defect_with_regions: int = 0  # true "No defect" tasks that got a mask anyway
    mask_iou: float | None = None  # mean IoU of the served masks on defect tasks with a mask
    mask_accepted: float | None = None  # share of those at IoU >= 0.5
    top_choice_right: float | None = None
    majority_baseline: float | None = None
    version: str | None = None
    seconds_to_version: float | None = None
    choice_counts: dict[str, int] = field(default_factory=dict)


def choice_for_class(class_name: str, choices: dict[str, list[str]]) -> str:
    """The choice of the config a dataset class stands for (by name or predicted_values)."""
    wanted = canonical_class_name(class_name)
    for choice, aliases in choices.items():
        if wanted in {canonical_class_name(a) for a in [choice, *aliases]}:
            return choice
    raise SystemExit(f"class {class_name!r} matches no choice of the label config: {list(choices)}")


def config_choices(label_config: str) -> dict[str, list[str]]:
    """Each choice of the config's Choices tag and the class names it stands for."""
    from label_studio_sdk.label_interface import LabelInterface

    control = LabelInterface(label_config).get_control(CHOICES_TAG)
    return {label: label_aliases(control, label) for label in control.labels}


def sample_images(data: Path, count: int, seed: int, choices) -> list[tuple[Path, str]]:
    """``count`` images of ``data/images/<class>/``, each class in proportion to its size."""
    folders = sorted(p for p in (data / "images").iterdir() if p.is_dir())
    if len(folders) < 2:
        raise SystemExit(f"{data}/images needs at least two class folders")
    rng = random.Random(seed)
    files = {f.name: sorted(p for p in f.iterdir() if p.is_file()) for f in folders}
    total = sum(len(v) for v in files.values())
    picked = []
    for name, paths in files.items():
        share = max(1, round(count * len(paths) / total))
        label = choice_for_class(name, choices)
        picked += [(p, label) for p in rng.sample(paths, min(share, len(paths)))]
    rng.shuffle(picked)
    return picked


def true_mask(task: Task) -> np.ndarray | None:
    """The ground-truth mask of a task's image (``masks/<class>/<stem>.png`` beside
    ``images/``), if the dataset has one."""
    if task.path is None:
        return None
    folder = task.path.parent
    candidate = folder.parent.parent / "masks" / folder.name / f"{task.path.stem}.png"
    if not candidate.is_file():
        return None
    return np.asarray(Image.open(candidate).convert("L")) > 127


def served_mask(result: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """The union of a prediction's brush regions at the image's size."""
    out = np.zeros(shape, dtype=bool)
    for region in result:
        if region.get("type") == "brushlabels":
            out |= decode_mask(
                region["value"]["rle"], region["original_height"], region["original_width"]
            )
    return out


def _mask_scores(stage: Stage, by_task: dict, others: dict[int, Task]) -> None:
    ious = []
    for task_id, task in others.items():
        truth = true_mask(task) if task.label != NO_DEFECT else None
        if truth is None or not truth.any():
            continue
        found = served_mask((by_task.get(task_id) or {}).get("result") or [], truth.shape)
        ious.append(float((found & truth).sum() / (found | truth).sum()))
    if ious:
        stage.mask_iou = round(float(np.mean(ious)), 3)
        stage.mask_accepted = round(float(np.mean([i >= 0.5 for i in ious])), 3)


def evaluate(stage: Stage, stored: list[dict], tasks: dict[int, Task], version=None) -> Stage:
    """Fill ``stage`` from the stored predictions (of ``version`` only, when given)."""
    labeled = Counter(t.label for t in tasks.values() if t.labeled)
    others = {i: t for i, t in tasks.items() if not t.labeled}
    by_task = {p["task"]: p for p in stored if version is None or p["model_version"] == version}
    right, choices = 0, Counter()
    for task_id, task in others.items():
        result = (by_task.get(task_id) or {}).get("result") or []
        named = [c for r in result if r.get("type") == "choices" for c in r["value"]["choices"]]
        regions = [r for r in result if r.get("type") == "brushlabels"]
        stage.with_prediction += task_id in by_task
        stage.with_choices += bool(named)
        stage.with_regions += bool(regions)
        stage.regions += len(regions)
        stage.defect_and_no_defect += NO_DEFECT in named and len(set(named)) > 1
        stage.unlabeled_class_named += any(labeled[c] == 0 for c in named)
        stage.no_defect_with_regions += task.label == NO_DEFECT and bool(regions)
        right += bool(named) and named[0] == task.label
        choices.update(named)
    truth = Counter(t.label for t in others.values())
    if others and stage.labels:
        stage.top_choice_right = round(right / len(others), 3)
        stage.majority_baseline = round(truth.most_common(1)[0][1] / len(others), 3)
    stage.choice_counts = dict(choices)
    if stage.labels:
        _mask_scores(stage, by_task, others)
    return stage


@dataclass
class Walk:
    """The running servers and the project of one walk."""

    ls: LocalLabelStudio
    backend: LocalBackend
    client: Any
    project: int
    tasks: dict[int, Task]
    owns_label_studio: bool = True

    def stop(self) -> None:
        self.backend.stop()
        if self.owns_label_studio:
            self.ls.stop()

    def live_version(self) -> str | None:
        state = requests.get(
            f"{self.backend.url}/versions", params={"project": self.project}, timeout=10
        ).json()["state"]
        return state["live_version"]

    def stored(self) -> list[dict]:
        return predictions(self.client, self.project)


def start_walk(root: Path, data: Path, count: int, seed: int, backend_env: dict, ls=None) -> Walk:
    """The backend, Label Studio (``ls``, else one of its own) and a project with ``count``
    images of ``data``."""
    label_config = LABEL_CONFIG.read_text()
    picked = sample_images(data, count, seed, config_choices(label_config))
    own = ls is None
    if own:
        ls = LocalLabelStudio(data_dir=root / "label-studio").start(timeout=300)
    try:
        env = {
            "LABEL_STUDIO_URL": ls.url,
            "LABEL_STUDIO_API_KEY": ls.legacy_token,
            "MODEL_DIR": str(root / "models"),
            "LOG_LEVEL": "INFO",
            **backend_env,
        }
        backend = LocalBackend(env=env, log_path=root / "backend.log").start(timeout=300)
    except BaseException:
        if own:
            ls.stop()
        raise
    walk = Walk(ls, backend, client_for(ls.url, ls.legacy_token), 0, {}, own)
    try:
        title = f"first hour {time.strftime('%H:%M:%S')}"
        walk.project = create_project(walk.client, title, label_config)
        ids = upload_images(ls.url, ls.auth_headers(), walk.project, [p for p, _ in picked])
        walk.tasks = {i: Task(i, label, path=p) for i, (p, label) in zip(ids, picked, strict=True)}
        connect_backend(walk.client, walk.project, backend.url)
    except BaseException:
        walk.stop()
        raise
    return walk


def cold_stage(walk: Walk) -> Stage:
    """ "Retrieve Predictions" before any label."""
    retrieve_predictions(walk.client, walk.project)
    return evaluate(Stage("cold", 0, len(walk.tasks)), walk.stored(), walk.tasks)


def label_up_to(walk: Walk, per_class: int, seed: int) -> int:
    """Submit annotations until every class has ``per_class`` labels; returns how many exist."""
    rng = random.Random(seed)
    by_class: dict[str, list[Task]] = {}
    for task in walk.tasks.values():
        by_class.setdefault(task.label, []).append(task)
    for label, group in sorted(by_class.items()):
        have = sum(t.labeled for t in group)
        open_tasks = [t for t in group if not t.labeled]
        for task in rng.sample(open_tasks, max(0, min(per_class - have, len(open_tasks)))):
            annotate_choices(walk.client, task.id, [label], from_name=CHOICES_TAG)
            task.labeled = True
    return sum(t.labeled for t in walk.tasks.values())


def wait_for_new_version(walk: Walk, previous: str | None, timeout: float) -> tuple[str, float]:
    """The first live version other than ``previous``, and the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        version = walk.live_version()
        if version is not None and version != previous:
            return version, time.monotonic() - started
        time.sleep(1.0)
    raise TimeoutError(f"no new version within {timeout:.0f} s; see {walk.backend.log_path}")


def wait_for_round(walk: Walk, since: float, timeout: float) -> dict:
    """The project's training record once a round that started after ``since`` (the last label)
    has ended: it trained on every label, and its follow-up re-prediction pushed the new
    version's predictions to Label Studio."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        health = requests.get(f"{walk.backend.url}/health", timeout=10).json()
        record = next(
            (r for r in health["training"] if str(r.get("project")) == str(walk.project)), {}
        )
        ended = record.get("state") in {"succeeded", "failed"}
        if ended and (record.get("started_at") or 0) > since:
            return record
        time.sleep(2.0)
    raise TimeoutError(f"the round did not end within {timeout:.0f} s; see {walk.backend.log_path}")


def labeled_stage(walk: Walk, per_class: int, seed: int, timeout: float) -> Stage:
    """Label up to ``per_class`` per class, time the first new version, wait for the round
    (and its re-prediction of the other tasks) to end, and score what the live version says."""
    previous = walk.live_version()
    labels = label_up_to(walk, per_class, seed)
    labeled_at = time.time() - 1.0  # the webhook of the last label may start the round at once
    _first, seconds = wait_for_new_version(walk, previous, timeout)
    wait_for_round(walk, labeled_at, timeout)
    version = walk.live_version()
    stage = Stage(f"{per_class} labels per class", labels, len(walk.tasks))
    stage.version, stage.seconds_to_version = version, round(seconds, 1)
    return evaluate(stage, walk.stored(), walk.tasks, version=version)


def print_stages(stages: list[Stage]) -> None:
    header = (
        "stage", "labels", "predicted", "choices", "regions", "both", "unlabeled class",
        "top right", "majority", "version after s", "no-defect masked", "mask IoU", "accepted",
    )  # fmt: skip
    print(" | ".join(header))
    for s in stages:
        row = (
            s.name, s.labels, f"{s.with_prediction}/{s.tasks - s.labels}", s.with_choices,
            s.regions, s.defect_and_no_defect, s.unlabeled_class_named, s.top_choice_right,
            s.majority_baseline, s.seconds_to_version, s.no_defect_with_regions, s.mask_iou,
            s.mask_accepted,
        )  # fmt: skip
        print(" | ".join(str(v) for v in row))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (images/<class>/)")
    parser.add_argument("--tasks", type=int, default=120, help="images imported as tasks")
    parser.add_argument("--labels-per-class", type=int, default=5)
    parser.add_argument("--then-per-class", type=int, default=20, help="0: skip that stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a version")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "build" / "first-hour")
    parser.add_argument("--json", type=Path, default=None, help="write the stages here")
    parser.add_argument("--model", default="efficientnet-lite0", help="CLASSIFIER_MODEL")


def run(args: argparse.Namespace) -> int:
    import shutil

    shutil.rmtree(args.work_dir, ignore_errors=True)
    env = {"CLASSIFIER_MODEL": args.model}
    walk = start_walk(args.work_dir, args.data, args.tasks, args.seed, env)
    try:
        stages = [cold_stage(walk)]
        for per_class in [args.labels_per_class, args.then_per_class]:
            if per_class:
                stages.append(labeled_stage(walk, per_class, args.seed, args.timeout))
    finally:
        walk.stop()
    print_stages(stages)
    if args.json:
        report = {"data": str(args.data), "tasks": args.tasks, "seed": args.seed}
        report["stages"] = [asdict(s) for s in stages]
        args.json.write_text(json.dumps(report, indent=2))
    return 0
