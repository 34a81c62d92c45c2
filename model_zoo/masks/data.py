"""A folder of photos with defect masks, checked and split for ``eval-masks``.

:func:`check_mask_dataset` refuses what no mask source can be scored on, with a message naming
what is missing: no defect class with masks, a single class, no ``no_defect`` class, a class
with fewer than :data:`MIN_IMAGES` images, masks whose size is not their image's.

:func:`grouped_split` is a seeded train/test split that keeps the tiles of one photo together
(names ``<photo>_<row><col>``, as the real wall tiles are): neighbouring quarters of one photo
on both sides would let a model be scored on the crack it was trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model_zoo.data.dataset import Dataset, Sample

NO_DEFECT = "no_defect"
MIN_IMAGES = 5
TILE_SUFFIX = r"_\d\d$"


class MaskDataError(ValueError):
    """The folder cannot be used to score masks; the message says what is missing."""


def defect_classes(dataset: Dataset) -> list[str]:
    """The classes other than ``no_defect`` that have at least one mask."""
    with_masks = {s.label for s in dataset if s.mask_path is not None}
    return [c for c in dataset.classes if c != NO_DEFECT and c in with_masks]


def _wrong_sizes(samples: list[Sample], limit: int = 3) -> tuple[int, list[str]]:
    bad, examples = 0, []
    for s in samples:
        if s.mask_path is None:
            continue
        with Image.open(s.image_path) as image, Image.open(s.mask_path) as mask:
            if image.size != mask.size:
                bad += 1
                if len(examples) < limit:
                    examples.append(
                        f"{s.mask_path.name} is {mask.size[0]}x{mask.size[1]}, its image "
                        f"{image.size[0]}x{image.size[1]}"
                    )
    return bad, examples


def check_mask_dataset(dataset: Dataset) -> list[str]:
    """The defect classes with masks; :class:`MaskDataError` when the folder cannot be used."""
    root = dataset.root
    counts = dataset.class_counts()
    if len([c for c, n in counts.items() if n]) < 2:
        raise MaskDataError(
            f"{root} has one class only ({', '.join(c for c, n in counts.items() if n)}): "
            f"eval-masks needs a defect class with masks and a {NO_DEFECT!r} class"
        )
    if not counts.get(NO_DEFECT):
        raise MaskDataError(
            f"{root} has no {NO_DEFECT!r} class (images/{NO_DEFECT}/): the weakly supervised "
            "masks learn the background from it"
        )
    defects = defect_classes(dataset)
    if not defects:
        raise MaskDataError(
            f"{root} has no defect class with masks: put 0/255 masks of the defect images in "
            f"masks/<class>/ (same names as images/<class>/), for a class other than {NO_DEFECT}"
        )
    few = {c: n for c, n in counts.items() if n and n < MIN_IMAGES}
    if few:
        listed = ", ".join(f"{c} ({n})" for c, n in few.items())
        raise MaskDataError(f"classes with fewer than {MIN_IMAGES} images: {listed}")
    bad, examples = _wrong_sizes([s for s in dataset if s.label in defects])
    if bad:
        raise MaskDataError(
            f"{bad} mask(s) do not have their image's size, e.g. {'; '.join(examples)}"
        )
    return defects


def group_of(sample: Sample, pattern: str = TILE_SUFFIX) -> str:
    """The photo a sample comes from: its stem without the tile suffix ``pattern``."""
    stem = sample.image_path.stem
    return re.sub(pattern, "", stem) if pattern else stem


@dataclass
class MaskSplit:
    train: list[Sample]
    test: list[Sample]
    grouped: bool  # whether tiles of one photo were kept together


def grouped_split(
    dataset: Dataset, test_fraction: float = 0.3, seed: int = 0, pattern: str = TILE_SUFFIX
) -> MaskSplit:
    """Seeded split by photo (see the module doc); falls back to the stratified per-image split
    when the pattern finds no groups, or groups so large (more than 8 images on average) that
    it is surely a numbering, not tiles."""
    groups: dict[str, list[Sample]] = {}
    for sample in dataset:
        groups.setdefault(group_of(sample, pattern), []).append(sample)
    if not pattern or len(groups) == len(dataset) or len(dataset) > 8 * len(groups):
        train, test = dataset.split(test_fraction, seed=seed)
        return MaskSplit(list(train), list(test), grouped=False)
    names = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(names))
    wanted = test_fraction * len(dataset)
    test, train, taken = [], [], 0
    for index in order:
        members = groups[names[index]]
        if taken < wanted:
            test += members
            taken += len(members)
        else:
            train += members
    for label in dataset.classes:
        if not any(s.label == label for s in train) or not any(s.label == label for s in test):
            train, test = dataset.split(test_fraction, seed=seed)
            return MaskSplit(list(train), list(test), grouped=False)
    key = lambda s: str(s.image_path)  # noqa: E731
    return MaskSplit(sorted(train, key=key), sorted(test, key=key), grouped=True)
