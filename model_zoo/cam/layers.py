"""Where CAMs are read from: target layers and reshape transform per backbone family.

``LAYER_SETS`` names the choices (``model_cam_layers``):

* ``last``  — the last feature map before pooling (one layer: coarse, ``input / 32`` for CNNs);
* ``multi`` — that layer plus the two finer stages before it (CNNs: ``/16`` and ``/8`` maps, so a
  multi-layer LayerCAM resolves thin structures), or, for ViTs whose blocks all share one grid,
  the blocks at 1/2, 3/4 and the end of the depth.

Families (from the model):

* timm models through transformers' ``TimmWrapper`` (``model.timm_model``): the modules timm
  lists in ``feature_info`` (one per stride); ``last`` is the final activation after the head
  convolution when the model has one (EfficientNet's ``bn2``);
* ViT-like transformers models (``vit``, ``dinov2``, ``deit`` …): the first LayerNorm of a
  transformer block; tokens are turned back into a grid (class and register tokens dropped);
* CNN transformers models (``convnext``, ``resnet`` …): their ``stages``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from model_zoo.classifier.parts import longest_block_list

LAYER_SETS = ("last", "multi")
_VIT_TYPES = {"vit", "dinov2", "dinov2_with_registers", "deit", "beit", "vit_mae", "vit_msn"}
_CNN_TYPES = {"convnext", "convnextv2", "resnet", "regnet", "efficientnet"}


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
    """Target layers (input side first), their names, the reshape transform (ViTs), family."""

    layers: list[nn.Module]
    names: list[str]
    reshape_transform: Callable | None
    family: str


def parse_layer_set(name: str) -> str:
    key = str(name).strip().lower()
    if key not in LAYER_SETS:
        raise ValueError(f"unknown CAM layer set {name!r}: choose one of {', '.join(LAYER_SETS)}")
    return key


def _block_list(model: nn.Module) -> tuple[str, nn.ModuleList]:
    best = longest_block_list(model)
    if best is None:
        raise ValueError(f"{type(model).__name__}: no block list found for CAM target layers")
    return best


def _timm_layers(timm_model: nn.Module, layer_set: str) -> CamLayers:
    info = getattr(timm_model, "feature_info", None)
    if not info:
        raise ValueError(f"timm model {type(timm_model).__name__} lists no feature_info")
    modules = dict(timm_model.named_modules())
    names = [f["module"] for f in info if f["module"] in modules]
    head = next((n for n in ("bn2", "head_act", "norm_pre") if n in modules), None)
    if head is not None and not isinstance(modules[head], nn.Identity):
        names.append(head)
    chosen = names[-1:] if layer_set == "last" else names[-4:]
    if layer_set == "multi" and head is not None and len(chosen) == 4:
        chosen = [chosen[0], chosen[1], chosen[3]]  # the /32 stage is the head's input
    return CamLayers([modules[n] for n in chosen], chosen, None, "timm")


def _vit_layers(model: nn.Module, layer_set: str) -> CamLayers:
    prefix, blocks = _block_list(model)
    depth = len(blocks)
    picks = (
        [depth - 1] if layer_set == "last" else sorted({depth // 2, (3 * depth) // 4, depth - 1})
    )
    layers, names = [], []
    for index in picks:
        block = blocks[index]
        norm = next((m for m in block.modules() if isinstance(m, nn.LayerNorm)), None)
        layers.append(norm or block)
        names.append(f"{prefix}.{index}")
    return CamLayers(layers, names, vit_reshape_transform, "vit")


def _cnn_layers(model: nn.Module, layer_set: str) -> CamLayers:
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.endswith("stages"):
            found = (name, module)
    prefix, stages = found or _block_list(model)
    picks = list(range(len(stages)))[-1:] if layer_set == "last" else list(range(len(stages)))[-3:]
    return CamLayers([stages[i] for i in picks], [f"{prefix}.{i}" for i in picks], None, "cnn")


_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cam_layers(classifier, layer_set: str = "last") -> CamLayers:
    """Target layers (and reshape transform) for the classifier's backbone family, looked up
    once per model and layer set (walking the modules costs milliseconds per request)."""
    layer_set = parse_layer_set(layer_set)
    per_model = _FOUND.setdefault(classifier.model, {})
    if layer_set not in per_model:
        per_model[layer_set] = _find_layers(classifier.model, layer_set)
    return per_model[layer_set]


def _find_layers(model: nn.Module, layer_set: str) -> CamLayers:
    timm_model = getattr(model, "timm_model", None)
    if timm_model is not None:
        return _timm_layers(timm_model, layer_set)
    model_type = str(getattr(model.config, "model_type", "")).lower()
    is_cnn = model_type in _CNN_TYPES or hasattr(model.config, "hidden_sizes")
    if model_type in _VIT_TYPES or (not is_cnn and hasattr(model.config, "patch_size")):
        return _vit_layers(model, layer_set)
    if is_cnn:
        return _cnn_layers(model, layer_set)
    raise ValueError(
        f"no CAM target layer known for model type {model_type!r}; supported: timm models "
        f"(TimmWrapper) and {sorted(_VIT_TYPES | _CNN_TYPES)}"
    )
