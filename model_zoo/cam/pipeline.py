"""Images -> class probabilities and scored defect masks, from one forward pass.

:func:`classify_and_segment` prepares the batch once (:mod:`model_zoo.cam.inputs`), runs the
engine's single forward (:func:`model_zoo.cam.engine.forward_with_cams`), reads the class
probabilities from it, picks the classes to explain (probability >= ``score_threshold`` among
``classes``; ``forced`` ones in evaluation), and takes their CAMs from the same pass. The maps go
through the switched-on refinements (:mod:`model_zoo.cam.refinements`) and become proposals at
each image's original size (:mod:`model_zoo.cam.proposals`). Uniform (blank) images get no maps.

The defaults (:class:`CamConfig`) were chosen with ``python -m model_zoo eval-cam`` and
``bench-cam`` (docs/cam-masks.md: guided filter + ridge filter, last layer, Grad-CAM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from model_zoo.cam.engine import forward_with_cams
from model_zoo.cam.inputs import cam_input, is_uniform
from model_zoo.cam.layers import parse_layer_set
from model_zoo.cam.methods import method_key
from model_zoo.cam.proposals import (
    DEFAULT_MAX_SIDE,
    Proposal,
    binarize,
    parse_threshold,
    proposals_from_mask,
    upsample,
    working_size,
)
from model_zoo.cam.refinements import REFINEMENTS, AdvCamConfig, ImageContext, parse_refine
from model_zoo.cam.refinements.ridge import RIDGE_FILTERS
from model_zoo.classifier.model import canonical_class_name

log = logging.getLogger(__name__)


@dataclass
class CamConfig:
    """How CAMs become proposals (per-tag attributes / env settings in the backend)."""

    method: str = "gradcam"
    layers: str = "last"
    input_size: int = 0  # 0: the model's own input size
    threshold: str = "relative:0.5"
    min_area: int = 64
    refine: tuple[str, ...] = ("guided", "ridge")
    score_threshold: float = 0.5
    morph_radius: int | None = None
    max_side: int = DEFAULT_MAX_SIDE
    max_proposals: int = 20
    ridge_classes: tuple[str, ...] = ("crack", "net_crack")
    ridge_filter: str = "blackhat"
    advcam: AdvCamConfig = field(default_factory=AdvCamConfig)

    def __post_init__(self):
        method_key(self.method)  # validates the name
        self.layers = parse_layer_set(self.layers)
        parse_threshold(self.threshold)
        self.refine = parse_refine(self.refine)
        self.ridge_classes = tuple(canonical_class_name(c) for c in self.ridge_classes)
        if self.ridge_filter not in RIDGE_FILTERS:
            raise ValueError(
                f"unknown ridge filter {self.ridge_filter!r}: choose one of {RIDGE_FILTERS}"
            )
        if self.min_area < 0:
            raise ValueError(f"min_area must be >= 0, not {self.min_area}")
        if self.input_size and not 32 <= int(self.input_size) <= 2048:
            raise ValueError(
                f"CAM input size must be 0 (model's) or 32..2048, not {self.input_size}"
            )


@dataclass
class ClassMasks:
    """The proposals of one class on one image."""

    class_index: int
    probability: float
    proposals: list[Proposal]
    cam: np.ndarray | None = None  # the input-size map (kept only when asked)


@dataclass
class Segmentation:
    """What one pass gives: probabilities ``(n, classes)`` and, per image, its classes' masks."""

    probabilities: np.ndarray
    masks: list[list[ClassMasks]]


def _chooser(classifier, config, allowed, flat, forced, present):
    def choose(logits):
        probs = classifier.probabilities(logits)
        named = present(probs) if present is not None and forced is None else None
        pairs = []
        for i, row in enumerate(probs):
            if flat[i]:  # no spatial evidence: any map structure would be an artefact
                continue
            if forced is not None:
                chosen = [c for c in forced[i] if c in allowed]
            elif named is not None:
                chosen = [c for c in named[i] if c in allowed]
            else:
                order = np.argsort(-row)
                chosen = [c for c in order if c in allowed and row[c] >= config.score_threshold]
            pairs.extend((i, int(c)) for c in chosen)
        return pairs

    return choose


def class_proposals(cam, image, class_name, probability, config, refinements, context):
    """One class's map -> refined proposals at ``image``'s original size."""
    width, height = image.size
    work = upsample(np.clip(np.nan_to_num(cam), 0.0, None), *context.size)
    for refinement in refinements:
        work = refinement.refine_map(work, context, config)
    binary = binarize(work, parse_threshold(config.threshold), config.morph_radius)
    for refinement in refinements:
        binary = refinement.refine_mask(binary, work, context, class_name, config)
    groups = None
    for refinement in refinements:
        groups = refinement.proposal_groups(binary, groups, class_name, config)
    return proposals_from_mask(
        binary, work, width, height, config.min_area, probability, config.max_proposals, groups
    )


def classify_and_segment(
    classifier,
    images: Sequence[Image.Image],
    config: CamConfig,
    classes: Sequence[int] | None = None,
    sam=None,
    keep_cams: bool = False,
    forced: Sequence[Sequence[int]] | None = None,
    present: Callable[[np.ndarray], list[list[int]]] | None = None,
) -> Segmentation:
    """Probabilities of every image and the proposals of its classes at ``score_threshold`` or
    above (among ``classes``; all when None), from one forward pass.

    ``present``: probabilities -> the classes each image shows (the served rule,
    :meth:`model_zoo.classifier.decision.ClassDecision.present`), instead of
    ``score_threshold``. ``forced``: per image, class indices to segment whatever their
    probability (evaluation with known labels). ``sam``: a :class:`model_zoo.sam.SamRefiner`,
    for the ``sam`` refinement.
    """
    if not images:
        return Segmentation(np.zeros((0, len(classifier.classes)), dtype=np.float32), [])
    refinements = [REFINEMENTS[name]() for name in config.refine]
    if any(getattr(r, "needs_sam", False) for r in refinements) and sam is None:
        raise ValueError("the 'sam' refinement needs a SAM model: set SAM_CHECKPOINT")
    allowed = set(range(len(classifier.classes))) if classes is None else set(classes)
    pixel_values = cam_input(classifier, images, config.input_size or None)
    flat = is_uniform(pixel_values)
    choose = _chooser(classifier, config, allowed, flat, forced, present)
    result = forward_with_cams(classifier, pixel_values, choose, config.method, config.layers)
    probs = classifier.probabilities(result.logits)
    maps = result.maps
    for refinement in refinements:
        maps = refinement.refine_maps(classifier, pixel_values, result.pairs, maps, config)
    out: list[list[ClassMasks]] = [[] for _ in images]
    contexts: dict[int, ImageContext] = {}
    for (i, c), cam in zip(result.pairs, maps, strict=True):
        context = contexts.setdefault(
            i, ImageContext(images[i], working_size(*images[i].size, config.max_side))
        )
        name = canonical_class_name(classifier.classes[c])
        found = class_proposals(
            cam, images[i], name, float(probs[i, c]), config, refinements, context
        )
        out[i].append(ClassMasks(c, float(probs[i, c]), found, cam if keep_cams else None))
    for i, image in enumerate(images):
        for refinement in refinements:
            refinement.refine_proposals(image, [m.proposals for m in out[i]], sam)
    return Segmentation(probs, out)


def segment(classifier, images, config, classes=None, sam=None, keep_cams=False, forced=None):
    """The masks of :func:`classify_and_segment` (one list of :class:`ClassMasks` per image)."""
    return classify_and_segment(classifier, images, config, classes, sam, keep_cams, forced).masks
