"""Turning a project's submitted annotations into training examples.

Every task of the project is read through the SDK (paginated). For the Choices control that the
classifier serves, the newest non-cancelled annotation of each task gives its label(s). Labels
that are not in the label config are counted and reported, not fatal; brush masks of the same
annotation are kept (decoded lazily) for mask-aware work later.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Example:
    task_id: int
    image_url: str
    labels: list[str]
    brush: list[dict] = field(default_factory=list)  # brushlabels result items, as submitted


@dataclass
class TrainingSet:
    examples: list[Example]
    unknown_labels: Counter
    skipped: Counter  # reason -> count
    tasks_seen: int

    def summary(self) -> dict[str, Any]:
        counts = Counter(label for e in self.examples for label in e.labels)
        return {
            "tasks_seen": self.tasks_seen,
            "examples": len(self.examples),
            "label_counts": dict(counts.most_common()),
            "unknown_labels": dict(self.unknown_labels),
            "skipped": dict(self.skipped),
        }


def iter_tasks(client, project_id: int, page_size: int = 100) -> Iterator[dict]:
    """Every task of a project with its annotations, page by page."""
    pager = client.tasks.list(project=project_id, fields="all", page_size=page_size)
    for task in pager:
        yield task.model_dump() if hasattr(task, "model_dump") else dict(task)


def _newest(annotations: Iterable[dict]) -> dict | None:
    usable = [a for a in annotations or [] if not a.get("was_cancelled")]
    if not usable:
        return None
    return max(
        usable,
        key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0),
    )


def build_training_set(tasks: Iterable[dict], choices_control, image_key: str) -> TrainingSet:
    """Examples for ``choices_control`` (an SDK ChoicesTag) from tasks with annotations."""
    known = set(choices_control.labels)
    examples: list[Example] = []
    unknown: Counter = Counter()
    skipped: Counter = Counter()
    seen = 0
    for task in tasks:
        seen += 1
        annotation = _newest(task.get("annotations") or [])
        if annotation is None:
            skipped["no annotation"] += 1
            continue
        url = (task.get("data") or {}).get(image_key)
        if not isinstance(url, str) or not url:
            skipped[f"no {image_key!r} in task data"] += 1
            continue
        labels: list[str] = []
        brush: list[dict] = []
        for item in annotation.get("result") or []:
            if item.get("type") == "choices" and item.get("from_name") == choices_control.name:
                for label in (item.get("value") or {}).get("choices") or []:
                    if label in known:
                        labels.append(label)
                    else:
                        unknown[label] += 1
            elif item.get("type") == "brushlabels":
                brush.append(item)
        if not labels:
            skipped["no choice of the classifier's tag"] += 1
            continue
        examples.append(Example(int(task["id"]), url, list(dict.fromkeys(labels)), brush))
    if unknown:
        log.warning(
            "annotations use labels that are not in <Choices name=%r>: %s (ignored; add them to the "
            "label config to train on them)",
            choices_control.name,
            dict(unknown),
        )
    return TrainingSet(examples, unknown, skipped, seen)
