"""Class-activation maps of a classifier, computed with the ``grad-cam`` library.

``CAM_METHODS`` is a plain dict ``name -> grad-cam class``. ``cams(classifier, images,
class_indices, method)`` returns one float map in ``[0, 1]`` per (image, class) pair, at the
model's input size (``input_size x input_size``; the image is stretched to that square, so the
map stretches back onto the whole image). The grad-cam library normalises every map to
``[0, 1]`` (min-max per image); a class whose map is all zero has no activation.

Backbones: target layer and reshape transform come from the model family
(``config.model_type``):

* ViT-like (``vit``, ``dinov2``, ``deit`` …): the first LayerNorm of the last transformer block;
  its tokens are turned back into a grid (class and register tokens dropped).
* ConvNeXt-like (``convnext``, ``convnextv2``): the last stage (a ``B x C x h x w`` feature map).

Everything runs under ``classifier._lock`` (the model is shared with inference threads), CAM
objects are used as context managers so their hooks are released, and gradients are switched on
only for the duration of the call.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

CAM_METHODS: dict[str, type] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
    "hirescam": HiResCAM,
}
"""CAM methods by name (``model_cam_method`` / ``CAM_METHOD``)."""

_VIT_TYPES = {"vit", "dinov2", "dinov2_with_registers", "deit", "beit", "vit_mae", "vit_msn"}
_CNN_TYPES = {"convnext", "convnextv2", "resnet", "regnet", "efficientnet"}


def cam_method(name: str) -> type:
    """The grad-cam class called ``name`` (case-insensitive); a clear error otherwise."""
    key = str(name).strip().lower().replace("_", "").replace("-", "")
    aliases = {"gradcamplusplus": "gradcam++", "gradcampp": "gradcam++"}
    key = aliases.get(key, key)
    if key not in CAM_METHODS:
        raise KeyError(f"unknown CAM method {name!r}: choose one of {', '.join(CAM_METHODS)}")
    return CAM_METHODS[key]


class _Logits(nn.Module):
    """transformers models return an output object; grad-cam wants the logits tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def vit_reshape_transform(tokens: torch.Tensor) -> torch.Tensor:
    """``B x N x C`` tokens -> ``B x C x g x g`` grid, dropping the leading class/register tokens."""
    if tokens.ndim != 3:
        raise ValueError(f"expected B x tokens x channels, got shape {tuple(tokens.shape)}")
    n = tokens.shape[1]
    side = math.isqrt(n)
    if side * side != n:  # leading class (and register) tokens
        side = math.isqrt(n - 1)
    grid = tokens[:, n - side * side :, :]
    return grid.reshape(tokens.shape[0], side, side, tokens.shape[2]).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class CamLayers:
    """Where CAMs are read from: the target layers and the reshape transform (ViTs)."""

    layers: list[nn.Module]
    reshape_transform: Callable | None
    family: str


def _transformer_blocks(model: nn.Module) -> nn.ModuleList:
    best = None
    for name, module in model.named_modules():
        is_blocks = isinstance(module, nn.ModuleList) and "classifier" not in name
        if is_blocks and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ValueError(f"{type(model).__name__}: no block list found for CAM target layers")
    return best


def cam_layers(classifier) -> CamLayers:
    """Target layers (and reshape transform) for the classifier's backbone family."""
    model = classifier.model
    model_type = str(getattr(model.config, "model_type", "")).lower()
    is_cnn = model_type in _CNN_TYPES or hasattr(model.config, "hidden_sizes")
    if model_type in _VIT_TYPES or (not is_cnn and hasattr(model.config, "patch_size")):
        block = _transformer_blocks(model)[-1]
        norm = next((m for m in block.modules() if isinstance(m, nn.LayerNorm)), None)
        return CamLayers([norm or block], vit_reshape_transform, "vit")
    if is_cnn:
        stages = None
        for name, module in model.named_modules():
            if isinstance(module, nn.ModuleList) and name.endswith("stages"):
                stages = module
        if stages is None:
            stages = _transformer_blocks(model)
        return CamLayers([stages[-1]], None, "cnn")
    raise ValueError(
        f"no CAM target layer known for model type {model_type!r}; supported: "
        f"{sorted(_VIT_TYPES | _CNN_TYPES)}"
    )


def cam_input(classifier, images: Sequence[Image.Image]) -> torch.Tensor:
    """Pixel tensor for CAMs: each image stretched to the model's square input size.

    Resizing with PIL first keeps memory bounded for very large images and makes the map cover
    the whole image (no centre crop), so upsampling it to ``(height, width)`` maps it back.
    """
    side = classifier.input_size
    small = []
    for image in images:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        small.append(rgb.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=3.0))
    return classifier.preprocess(small)


@contextlib.contextmanager
def grad_mode(classifier):
    """Hold the model's lock with autograd on; weights are frozen for the duration (gradients
    flow from the input, whose ``requires_grad`` callers set) and restored afterwards."""
    with classifier._lock:
        device = classifier.device  # noqa: F841 - moves the model on first use
        model = classifier.model
        model.eval()
        flags = [p.requires_grad for p in model.parameters()]
        try:
            for p in model.parameters():
                p.requires_grad_(False)
            with torch.inference_mode(False), torch.enable_grad():
                yield
        finally:
            for p, flag in zip(model.parameters(), flags, strict=True):
                p.requires_grad_(flag)


def compute_cams(
    classifier,
    pixel_values: torch.Tensor,
    class_indices: Sequence[int],
    method: str = "gradcam",
    tta: bool = False,
    batch_size: int = 16,
) -> np.ndarray:
    """CAMs (``(n, S, S)``) for row ``i`` and class ``class_indices[i]``; the caller holds
    :func:`grad_mode` (the model's lock with gradients on)."""
    if len(class_indices) != len(pixel_values):
        raise ValueError("one class index per input row is needed")
    if len(pixel_values) == 0:
        side = pixel_values.shape[-1] if pixel_values.ndim == 4 else classifier.input_size
        return np.zeros((0, side, side), dtype=np.float32)
    cls = cam_method(method)
    layers = cam_layers(classifier)
    out = []
    wrapped = _Logits(classifier.model)
    with cls(
        model=wrapped,
        target_layers=layers.layers,
        reshape_transform=layers.reshape_transform,
    ) as cam:
        if cls is ScoreCAM:
            cam.batch_size = 32
        for start in range(0, len(pixel_values), max(1, batch_size)):
            chunk = pixel_values[start : start + batch_size].to(classifier.device)
            chunk = chunk.detach().clone().requires_grad_(True)  # the graph starts here
            targets = [
                ClassifierOutputTarget(int(c)) for c in class_indices[start : start + batch_size]
            ]
            maps = cam(input_tensor=chunk, targets=targets, aug_smooth=tta)
            out.append(np.nan_to_num(np.asarray(maps, dtype=np.float32)))
    classifier.model.zero_grad(set_to_none=True)
    return np.concatenate(out, axis=0)


def cams_for_tensor(
    classifier,
    pixel_values: torch.Tensor,
    class_indices: Sequence[int],
    method: str = "gradcam",
    tta: bool = False,
    batch_size: int = 16,
) -> np.ndarray:
    """Like :func:`compute_cams`, taking the model's lock itself (thread-safe)."""
    with grad_mode(classifier):
        return compute_cams(classifier, pixel_values, class_indices, method, tta, batch_size)


def cams(
    classifier,
    images: Sequence[Image.Image],
    class_indices: Sequence[int],
    method: str = "gradcam",
    tta: bool = False,
) -> list[np.ndarray]:
    """One ``S x S`` map in ``[0, 1]`` per ``(images[i], class_indices[i])`` pair."""
    if len(images) != len(class_indices):
        raise ValueError("cams() needs one class index per image")
    pixel_values = cam_input(classifier, images)
    return list(cams_for_tensor(classifier, pixel_values, class_indices, method, tta=tta))


def probabilities(classifier, pixel_values: torch.Tensor) -> np.ndarray:
    """Class probabilities for an already prepared tensor (same rule as ``predict_proba``)."""
    return classifier.probabilities(classifier.logits(pixel_values))
