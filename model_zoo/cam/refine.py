"""Refinements of CAM proposals, and the whole image -> scored masks pipeline.

``REFINEMENTS`` (a plain dict) names what can be switched on, alone or joined with ``+``
(``"tta+sam"``):

* ``none``   — the plain CAM;
* ``tta``    — test-time augmentation smoothing of the grad-cam library (``aug_smooth``:
  horizontal flip x three brightness factors, maps averaged);
* ``advcam`` — AdvCAM-style adversarial climbing (Lee et al., CVPR 2021): the input is nudged
  for a few steps to raise the class logit and lower the other predicted classes' logits, with a
  penalty on changing the target layer's features where the first map is already high (the
  restricting mask), and the maps of all steps are summed. Deviation from the paper: the penalty
  is on target-layer features rather than on the CAM itself (grad-cam's maps are not
  differentiable), and steps use an L1-normalised gradient;
* ``sam``    — Segment Anything prompted with each component's box and peak point
  (:mod:`model_zoo.sam.refiner`; needs ``SAM_CHECKPOINT``).

:func:`segment` runs classification, CAMs, proposals and refinements for a batch of images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from model_zoo.cam.methods import cam_input, cam_layers, compute_cams, grad_mode
from model_zoo.cam.proposals import DEFAULT_MAX_SIDE, Proposal, parse_threshold, proposals

log = logging.getLogger(__name__)

REFINEMENTS: dict[str, str] = {
    "none": "plain class-activation map",
    "tta": "test-time augmentation smoothing (grad-cam aug_smooth)",
    "advcam": "AdvCAM-style adversarial climbing, maps of all steps summed",
    "sam": "Segment Anything prompted with each component's box and peak (needs SAM_CHECKPOINT)",
}


def parse_refine(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"tta+sam"`` -> ``("tta", "sam")``; ``"none"``/empty -> ``()``."""
    if spec is None:
        return ()
    parts = spec if not isinstance(spec, str) else spec.replace(",", "+").split("+")
    names = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    unknown = [n for n in names if n not in REFINEMENTS]
    if unknown:
        raise ValueError(
            f"unknown refinement {'+'.join(unknown)!r}: choose from {', '.join(REFINEMENTS)}, "
            "joined with '+' (e.g. 'tta+sam')"
        )
    return tuple(n for n in names if n != "none")


@dataclass
class AdvCamConfig:
    steps: int = 6
    step_size: float = 0.08
    penalty: float = 7.0
    mask_level: float = 0.5


def _feature_hook(layer, reshape):
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        store["features"] = reshape(out) if reshape is not None else out

    return layer.register_forward_hook(hook), store


def advcam_maps(
    classifier,
    pixel_values: torch.Tensor,
    class_indices: Sequence[int],
    method: str = "gradcam",
    others: Sequence[Sequence[int]] | None = None,
    config: AdvCamConfig | None = None,
) -> np.ndarray:
    """Adversarial climbing: ``(n, S, S)`` maps in ``[0, 1]`` (sum over steps, normalised)."""
    config = config or AdvCamConfig()
    others = others or [[] for _ in class_indices]
    layers = cam_layers(classifier)
    with grad_mode(classifier):
        device = classifier.device
        x0 = pixel_values.to(device)
        first = compute_cams(classifier, x0, class_indices, method)
        total = first.copy()
        handle, store = _feature_hook(layers.layers[0], layers.reshape_transform)
        try:
            with torch.no_grad():
                classifier.model(pixel_values=x0)
                f0 = store["features"].detach()
            grid = torch.from_numpy(first)[:, None].to(device)
            restrict = torch.nn.functional.interpolate(grid, size=f0.shape[-2:], mode="area")
            restrict = (restrict >= config.mask_level).float()
            rows = torch.arange(len(class_indices), device=device)
            target = torch.as_tensor(list(class_indices), device=device)
            suppress = torch.zeros(
                len(class_indices), classifier.model.config.num_labels, device=device
            )
            for i, ks in enumerate(others):
                for k in ks:
                    if k != class_indices[i]:
                        suppress[i, k] = 1.0
            x = x0.clone()
            for _ in range(config.steps):
                x.requires_grad_(True)
                logits = classifier.model(pixel_values=x).logits
                features = store["features"]
                gain = logits[rows, target] - (logits * suppress).sum(dim=1)
                change = (restrict * (features - f0).abs()).flatten(1).mean(dim=1)
                objective = (gain - config.penalty * change).sum()
                (grad,) = torch.autograd.grad(objective, x)
                scale = grad.abs().flatten(1).mean(dim=1).clamp_min(1e-12)[:, None, None, None]
                x = (x + config.step_size * grad / scale).detach()
                total += compute_cams(classifier, x, class_indices, method)
        finally:
            handle.remove()
            classifier.model.zero_grad(set_to_none=True)
    top = total.reshape(len(total), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(top > 0, total / np.maximum(top, 1e-12), 0.0).astype(np.float32)


@dataclass
class CamConfig:
    """How CAMs become proposals (per-tag attributes / env settings in the backend)."""

    method: str = "gradcam"
    threshold: str = "relative:0.5"
    min_area: int = 64
    refine: tuple[str, ...] = ()
    score_threshold: float = 0.5
    morph_radius: int | None = None
    max_side: int = DEFAULT_MAX_SIDE
    max_proposals: int = 20
    advcam: AdvCamConfig = field(default_factory=AdvCamConfig)

    def __post_init__(self):
        from model_zoo.cam.methods import cam_method

        cam_method(self.method)  # validates the name
        parse_threshold(self.threshold)
        self.refine = parse_refine(self.refine)
        if self.min_area < 0:
            raise ValueError(f"min_area must be >= 0, not {self.min_area}")


@dataclass
class ClassMasks:
    """The proposals of one class on one image."""

    class_index: int
    probability: float
    proposals: list[Proposal]
    cam: np.ndarray | None = None  # the S x S map (kept only when asked)


def class_maps(
    classifier,
    images: Sequence[Image.Image],
    pairs: Sequence[tuple[int, int]],
    config: CamConfig,
    pixel_values: torch.Tensor | None = None,
    others: dict[int, list[int]] | None = None,
) -> np.ndarray:
    """One map per ``(image index, class index)`` pair, with the CAM-stage refinements."""
    if pixel_values is None:
        pixel_values = cam_input(classifier, images)
    if not pairs:
        side = pixel_values.shape[-1]
        return np.zeros((0, side, side), dtype=np.float32)
    rows = pixel_values[[i for i, _ in pairs]]
    classes = [c for _, c in pairs]
    if "advcam" in config.refine:
        return advcam_maps(
            classifier,
            rows,
            classes,
            config.method,
            others=[(others or {}).get(i, []) for i, _ in pairs],
            config=config.advcam,
        )
    with grad_mode(classifier):
        return compute_cams(classifier, rows, classes, config.method, tta="tta" in config.refine)


def is_uniform(pixel_values: torch.Tensor, tolerance: float = 1e-3) -> list[bool]:
    """Per row: whether the (model-input) image is blank or a single colour."""
    flat = pixel_values.flatten(2)
    spread = (flat.max(dim=2).values - flat.min(dim=2).values).max(dim=1).values
    return [bool(v <= tolerance) for v in spread]


def segment(
    classifier,
    images: Sequence[Image.Image],
    config: CamConfig,
    classes: Sequence[int] | None = None,
    sam=None,
    keep_cams: bool = False,
    forced: Sequence[Sequence[int]] | None = None,
) -> list[list[ClassMasks]]:
    """For each image, the classes predicted at ``score_threshold`` or above (among ``classes``;
    all when None) with their scored proposals at the image's original size.

    ``forced``: per image, class indices to segment whatever their probability (evaluation with
    known labels). ``sam``: a :class:`model_zoo.sam.refiner.SamRefiner`, used when ``"sam"`` is in
    ``config.refine``.
    """
    if not images:
        return []
    if "sam" in config.refine and sam is None:
        raise ValueError("the 'sam' refinement needs a SAM model: set SAM_CHECKPOINT")
    allowed = set(range(len(classifier.classes))) if classes is None else set(classes)
    pixel_values = cam_input(classifier, images)
    probs = classifier.probabilities(classifier.logits(pixel_values))
    pairs: list[tuple[int, int]] = []
    others: dict[int, list[int]] = {}
    flat = is_uniform(pixel_values)
    for i, row in enumerate(probs):
        if flat[i]:  # no spatial evidence: any map structure would be an artefact
            log.info("image %d is uniform: no CAM proposals", i)
            continue
        chosen = [c for c in np.argsort(-row) if c in allowed and row[c] >= config.score_threshold]
        if forced is not None:
            chosen = [c for c in forced[i] if c in allowed]
        others[i] = [int(c) for c in np.flatnonzero(row >= config.score_threshold)]
        pairs.extend((i, int(c)) for c in chosen)
    maps = class_maps(classifier, images, pairs, config, pixel_values, others)
    out: list[list[ClassMasks]] = [[] for _ in images]
    for (i, c), cam in zip(pairs, maps, strict=True):
        width, height = images[i].size
        found = proposals(
            cam,
            width,
            height,
            threshold=config.threshold,
            min_area=config.min_area,
            class_score=float(probs[i, c]),
            morph_radius=config.morph_radius,
            max_side=config.max_side,
            max_proposals=config.max_proposals,
        )
        out[i].append(ClassMasks(c, float(probs[i, c]), found, cam if keep_cams else None))
    if "sam" in config.refine:
        for i, image in enumerate(images):
            if any(m.proposals for m in out[i]):
                sam.refine(image, [m.proposals for m in out[i]])
    return out
