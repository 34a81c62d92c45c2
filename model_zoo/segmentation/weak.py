"""Weakly supervised segmentation: the segmentation network learned from image labels only.

``train_weak_segmentation(classifier, examples, labels, WeakConfig())``:

1. for every example labeled with a defect class that has a mask label, the classifier's CAM of
   that class (one forward and backward pass, :func:`model_zoo.cam.pipeline.segment` with
   ``keep_cams``) and the image become a pseudo-mask (:mod:`model_zoo.segmentation.pseudo`:
   confident foreground, confident background, an ignored band between);
2. every example labeled only with classes that have no mask label (``no_defect``) is all
   background;
3. the segmentation network (:func:`model_zoo.segmentation.train_segmentation`) learns from
   them, the ignored pixels left out;
4. optionally (``rounds=2``) a second round: the first model's own probabilities on the defect
   images, kept where they are confident (``>= self_high``, inside the CAM's wide gate) or
   surely background (``< self_low``), ignored between, train the network again from the first
   round's weights.

Fewer than ``min_pseudo`` defect images with any confident foreground: nothing usable, no model
(``None``) and a record that says so; the caller keeps serving CAM.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from model_zoo.segmentation.data import SegmentationSample
from model_zoo.segmentation.model import SegmentationModel
from model_zoo.segmentation.pseudo import PseudoConfig, grey_array, pseudo_mask
from model_zoo.segmentation.train import SegTrainConfig, TooFewMasks, train_segmentation

log = logging.getLogger(__name__)


def _weak_training() -> SegTrainConfig:
    return SegTrainConfig(epochs=8, holdout_fraction=0.0, min_samples=2, patience=99)


@dataclass
class WeakConfig:
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)
    segmentation: SegTrainConfig = field(default_factory=_weak_training)
    rounds: int = 1
    min_pseudo: int = 10  # fewest defect images with a confident foreground
    self_high: float = 0.7  # second round: confident foreground
    self_low: float = 0.3  # second round: confident background
    cam_method: str = "gradcam"
    cam_layers: str = "last"


@dataclass
class Example:
    """A labeled image: its classes (names, as the classifier has them)."""

    image: Image.Image
    classes: Sequence[str]
    key: str = ""


def _examples(items) -> list[Example]:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Example):
            out.append(item)
        else:
            image, classes = item
            out.append(Example(image, [classes] if isinstance(classes, str) else list(classes),
                               key=str(i)))  # fmt: skip
    return out


def _cams(classifier, examples: list[Example], class_index: Mapping[str, int], config):
    """Per defect example, ``{label: normalised CAM}`` of each of its mapped classes."""
    from model_zoo.cam.pipeline import CamConfig, segment

    cam_config = CamConfig(
        method=config.cam_method, layers=config.cam_layers, refine=(), score_threshold=0.0
    )
    out: list[dict[str, np.ndarray]] = []
    for start in range(0, len(examples), 16):
        chunk = examples[start : start + 16]
        forced = [[class_index[c] for c in e.classes if c in class_index] for e in chunk]
        found = segment(classifier, [e.image for e in chunk], cam_config, keep_cams=True,
                        forced=forced)  # fmt: skip
        for masks in found:
            out.append(
                {classifier.classes[m.class_index]: m.cam for m in masks if m.cam is not None}
            )
    return out


def pseudo_samples(
    classifier, examples, label_of: Mapping[str, str], config: WeakConfig
) -> tuple[list[SegmentationSample], dict]:
    """The pseudo-masked samples and their statistics. ``label_of``: classifier class name ->
    mask label (classes not in it are background)."""
    examples = _examples(examples)
    index = {c: i for i, c in enumerate(classifier.classes) if c in label_of}
    defect = [e for e in examples if any(c in index for c in e.classes)]
    background = [e for e in examples if not any(c in index for c in e.classes)]
    cams = _cams(classifier, defect, index, config)
    samples, shares = [], {"foreground": [], "background": [], "ignored": []}
    with_foreground = 0
    for example, maps in zip(defect, cams, strict=True):
        sample, has_fg = _pseudo_sample(example, maps, label_of, config.pseudo)
        samples.append(sample)
        with_foreground += has_fg
        total = sample.ignore.size
        fg = sum(int(m.sum()) for m in sample.masks.values())
        shares["foreground"].append(fg / total)
        shares["ignored"].append(float(sample.ignore.mean()))
        shares["background"].append(1 - fg / total - float(sample.ignore.mean()))
    for example in background:
        samples.append(SegmentationSample(example.image, {}, key=example.key))
    stats = {
        "defect_images": len(defect),
        "with_foreground": with_foreground,
        "background_images": len(background),
        **{f"mean_{k}_share": float(np.mean(v)) if v else None for k, v in shares.items()},
    }
    return samples, stats


def _pseudo_sample(example: Example, maps, label_of, config: PseudoConfig):
    width, height = example.image.size
    grey = grey_array(example.image, config.max_side)
    masks, ignore, has_fg = {}, np.ones(grey.shape, dtype=bool), False
    for cls, cam in maps.items():
        fg, bg = pseudo_mask(grey, cam, config)
        masks[label_of[cls]] = masks.get(label_of[cls], np.zeros(grey.shape, bool)) | fg
        ignore &= ~bg
        has_fg |= bool(fg.any())
    for mask in masks.values():
        ignore &= ~mask
    if grey.shape != (height, width):
        masks = {k: _resize_bool(v, width, height) for k, v in masks.items()}
        ignore = _resize_bool(ignore, width, height)
    return SegmentationSample(example.image, masks, key=example.key, ignore=ignore), has_fg


def _resize_bool(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0


def _self_samples(model: SegmentationModel, samples, config: WeakConfig):
    """Second-round samples: the model's confident pixels on the defect images (background
    images stay all background)."""
    out = []
    for sample in samples:
        if sample.ignore is None:  # an all-background image
            out.append(sample)
            continue
        maps = model.predict([sample.image])[0]
        masks, ignore = {}, np.zeros(sample.ignore.shape, dtype=bool)
        for label, prob in maps.items():
            first = sample.masks.get(label)
            if first is None:
                continue
            masks[label] = prob >= config.self_high
            ignore |= (prob >= config.self_low) & ~masks[label]
        out.append(SegmentationSample(sample.image, masks, key=sample.key, ignore=ignore))
    return out


def _unusable(stats: dict, config: WeakConfig) -> str | None:
    if stats["with_foreground"] >= config.min_pseudo:
        return None
    return (
        f"the pseudo-masks of {stats['defect_images']} defect image(s) hold a confident "
        f"foreground in {stats['with_foreground']} (all else ignored); the weak model needs "
        f"{config.min_pseudo}: CAM keeps serving"
    )


def train_weak_segmentation(
    classifier,
    examples,
    labels: Sequence[str],
    config: WeakConfig | None = None,
    label_of: Mapping[str, str] | None = None,
) -> tuple[SegmentationModel | None, dict]:
    """``(model or None, record)``. ``examples``: ``(image, class name or names)`` pairs or
    :class:`Example`; ``labels``: the mask labels; ``label_of``: class name -> label (default:
    each label is the class of the same name)."""
    config = config or WeakConfig()
    label_of = dict({label: label for label in labels} if label_of is None else label_of)
    started = time.monotonic()
    samples, stats = pseudo_samples(classifier, examples, label_of, config)
    record: dict = {"pseudo_masks": stats, "config": asdict(config)}
    reason = _unusable(stats, config)
    if reason:
        log.info(reason)
        return None, {**record, "status": "unusable", "reason": reason}
    try:
        model = train_segmentation(samples, labels, config.segmentation)
    except TooFewMasks as exc:
        return None, {**record, "status": "unusable", "reason": f"{exc}: CAM keeps serving"}
    rounds = 1
    for _ in range(max(0, config.rounds - 1)):
        again = _self_samples(model, samples, config)
        try:
            model = train_segmentation(again, labels, config.segmentation, start=model)
        except TooFewMasks as exc:
            record["self_training"] = f"stopped after round {rounds}: {exc}"
            break
        rounds += 1
    model.meta = {**model.meta, "source": "weak", "weak_rounds": rounds,
                  "pseudo_masks": stats}  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    return model, {**record, "status": "trained", "rounds": rounds, "seconds": seconds,
                   "reason": f"trained on {stats['with_foreground']} pseudo-masked defect "
                             f"images and {stats['background_images']} background images"}  # fmt: skip
