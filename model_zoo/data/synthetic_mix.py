"""Mixing generated images into the training data of minority classes.

A generated folder (``python -m model_zoo generate``) lists every file in ``manifest.json``.
Its images are added to the **training** part only, after the real data was split, so they
never reach an evaluation or hold-out split; files a manifest marks synthetic inside a real
dataset directory are taken out of the dataset before it is split, for the same reason.

Which classes get synthetic images: the ones named (``--synthetic-classes`` /
``MINORITY_CLASSES``), else every class with fewer than half as many real training images as
the largest class. Each gets enough to reach the largest class's count (at most
``max_per_class``), in manifest order. The trained version records what it saw
(:meth:`SyntheticMix.summary`).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_zoo.data.dataset import Dataset, DatasetError, class_title

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SyntheticImage:
    path: Path
    class_name: str  # the folder name in the generated dataset


@dataclass
class SyntheticMix:
    source: str | None = None
    images: list[tuple[Path, str]] = field(default_factory=list)  # (file, training label)

    def per_class(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, label in self.images:
            counts[label] = counts.get(label, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """What a model version records: how many synthetic images it saw, per class."""
        return {
            "synthetic_images": len(self.images),
            "synthetic_per_class": self.per_class(),
            "synthetic_source": self.source,
        }


def synthetic_files(root: str | Path) -> list[SyntheticImage]:
    """Files ``root/manifest.json`` marks synthetic (empty when there is no manifest)."""
    root = Path(root).expanduser()
    path = root / MANIFEST
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text()).get("files", [])
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DatasetError(f"{path} is not a readable generation manifest ({exc})") from None
    return [
        SyntheticImage(root / e["path"], str(e["class"]))
        for e in entries
        if isinstance(e, dict) and e.get("synthetic") and "path" in e and "class" in e
    ]


def read_generated(folder: str | Path) -> list[SyntheticImage]:
    """The synthetic images of a generated folder that exist; raises when it is not one."""
    folder = Path(folder).expanduser()
    if not (folder / MANIFEST).is_file():
        raise DatasetError(
            f"{folder} has no {MANIFEST}: not a folder written by `python -m model_zoo generate`"
        )
    files = [f for f in synthetic_files(folder) if f.path.is_file()]
    if not files:
        raise DatasetError(f"{folder}/{MANIFEST} lists no existing synthetic image")
    return files


def split_off_synthetic(dataset: Dataset) -> tuple[Dataset, list[tuple[Path, str]]]:
    """(the dataset without the files its manifest marks synthetic, those files with labels)."""
    marked = {f.path.resolve() for f in synthetic_files(dataset.root)}
    if not marked:
        return dataset, []
    is_synthetic = [s.image_path.resolve() in marked for s in dataset.samples]
    real = [s for s, flag in zip(dataset.samples, is_synthetic, strict=True) if not flag]
    synthetic = [
        (s.image_path, s.label)
        for s, flag in zip(dataset.samples, is_synthetic, strict=True)
        if flag
    ]
    log.info("%s: %d synthetic file(s) kept out of the split", dataset.root, len(synthetic))
    return Dataset(root=dataset.root, samples=real, classes=list(dataset.classes)), synthetic


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


def match_label(class_name: str, labels: Iterable[str]) -> str | None:
    """The training label a generated class folder stands for (``crack`` -> ``Crack``)."""
    wanted = {_key(class_name), _key(class_title(class_name))}
    return next((label for label in labels if _key(label) in wanted), None)


def minority_classes(counts: Mapping[str, int], named: Sequence[str] = ()) -> list[str]:
    """The classes named (matched like folder names), else those below half the largest."""
    if named:
        return [label for label in counts if any(match_label(n, [label]) for n in named)]
    largest = max(counts.values(), default=0)
    return [label for label, n in counts.items() if n < largest / 2]


def plan_mix(
    folder: str | Path | None,
    train_counts: Mapping[str, int],
    named: Sequence[str] = (),
    max_per_class: int | None = None,
) -> SyntheticMix:
    """The synthetic images of ``folder`` to add to a training set with ``train_counts``."""
    if folder is None:
        return SyntheticMix()
    available: dict[str, list[Path]] = {}
    for image in read_generated(folder):
        label = match_label(image.class_name, train_counts)
        if label is not None:
            available.setdefault(label, []).append(image.path)
    largest = max(train_counts.values(), default=0)
    mix = SyntheticMix(source=str(Path(folder).expanduser().resolve()))
    for label in minority_classes(train_counts, named):
        want = max(0, largest - train_counts[label])
        if max_per_class is not None:
            want = min(want, max_per_class)
        mix.images.extend((path, label) for path in available.get(label, [])[:want])
    log.info("synthetic images mixed into training: %s", mix.per_class() or "none")
    return mix


def add_mix_arguments(parser: argparse.ArgumentParser) -> None:
    """``--synthetic DIR``, ``--synthetic-classes``, ``--synthetic-max`` (training commands)."""
    parser.add_argument(
        "--synthetic",
        default=None,
        help="a folder from `generate`: its images join the training part of minority classes "
        "(never the test split)",
    )
    parser.add_argument(
        "--synthetic-classes",
        default="",
        help="comma-separated classes that get synthetic images (default: those with fewer "
        "than half the images of the largest class)",
    )
    parser.add_argument(
        "--synthetic-max", type=int, default=None, help="at most this many per class"
    )


def mix_from_args(
    args: argparse.Namespace,
    train_counts: Mapping[str, int],
    in_dataset: Sequence[tuple[Path, str]] = (),
) -> SyntheticMix:
    """The mix the options of :func:`add_mix_arguments` ask for, after the synthetic files
    found inside the dataset itself (``in_dataset``, from :func:`split_off_synthetic`)."""
    named = [c.strip() for c in str(args.synthetic_classes or "").split(",") if c.strip()]
    mix = plan_mix(args.synthetic, train_counts, named, args.synthetic_max)
    mix.images[:0] = list(in_dataset)
    return mix
