"""One forward pass -> class probabilities and the CAMs of the chosen (image, class) pairs.

:func:`forward_with_cams` runs the classifier once with forward hooks on the target layers
(:mod:`model_zoo.cam.layers`). The input does not require grad and the parameters are frozen,
so no graph is recorded below the first target layer: its hook hands on a detached copy of its
output that requires grad, and the graph starts there. The probabilities of that pass pick the
pairs to explain (``choose``); the gradients of their class scores are then taken at the saved
activations with ``torch.autograd.grad``, one backward per *rank* (the k-th chosen class of
every image of the batch at once; images are independent in eval mode), never down to the
pixels. The grad-cam method object (:func:`model_zoo.cam.methods.library_cam`) turns each
layer's activations and gradients into a map (``get_cam_image``) and fuses the layers
(``aggregate_multi_layers``: mean of per-layer min-max-normalised maps).

Everything runs under the model's lock with autograd on (:func:`grad_mode`); hooks are removed
and parameters' ``requires_grad`` flags restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from model_zoo.cam.layers import CamLayers, cam_layers
from model_zoo.cam.methods import library_cam, uses_gradients

Pairs = list[tuple[int, int]]


class Logits(nn.Module):
    """transformers models return an output object; grad-cam's Score-CAM wants the logits."""

    def __init__(self, model: nn.Module, **forward_kwargs):
        super().__init__()
        self.model = model
        self.forward_kwargs = forward_kwargs

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values, **self.forward_kwargs).logits


@contextlib.contextmanager
def grad_mode(classifier):
    """Hold the model's lock with autograd on and every parameter frozen (restored after)."""
    with classifier._lock:
        classifier.device  # noqa: B018 - moves the model on first use
        model = classifier.model
        if model.training:
            model.eval()
        trainable = [p for p in model.parameters() if p.requires_grad]
        try:
            for p in trainable:
                p.requires_grad_(False)
            with torch.inference_mode(False), torch.enable_grad():
                yield
        finally:
            for p in trainable:
                p.requires_grad_(True)


class ActivationRecorder:
    """Forward hooks keeping each target layer's output; the first one reached starts the graph."""

    def __init__(self, layers: list[nn.Module]):
        self.layers = layers
        self.outputs: dict[int, torch.Tensor] = {}
        self._handles: list = []

    def _hook(self, index: int):
        def hook(_module, _inputs, output):
            tensor = output[0] if isinstance(output, tuple) else output
            if tensor.requires_grad:
                self.outputs[index] = tensor
                return None
            leaf = tensor.detach().requires_grad_(True)
            self.outputs[index] = leaf
            return (leaf, *output[1:]) if isinstance(output, tuple) else leaf

        return hook

    def __enter__(self) -> ActivationRecorder:
        self._handles = [
            layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(self.layers)
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def activations(self) -> list[torch.Tensor]:
        missing = [i for i in range(len(self.layers)) if i not in self.outputs]
        if missing:
            raise RuntimeError(f"CAM target layers {missing} were not reached by the forward pass")
        return [self.outputs[i] for i in range(len(self.layers))]


def class_gradients(
    logits: torch.Tensor, activations: list[torch.Tensor], pairs: Pairs
) -> list[torch.Tensor]:
    """Per layer, ``(len(pairs), ...)``: the gradient of ``logits[image, class]`` of each pair."""
    rank: list[int] = []
    seen: dict[int, int] = {}
    for image, _ in pairs:
        rank.append(seen.get(image, 0))
        seen[image] = rank[-1] + 1
    grads = [torch.zeros((len(pairs), *a.shape[1:]), dtype=a.dtype) for a in activations]
    last = max(rank)
    for k in range(last + 1):
        chosen = [p for p, r in enumerate(rank) if r == k]
        rows = torch.tensor([pairs[p][0] for p in chosen])
        onehot = torch.zeros_like(logits)
        onehot[rows, torch.tensor([pairs[p][1] for p in chosen])] = 1.0
        found = torch.autograd.grad(
            logits, activations, grad_outputs=onehot, retain_graph=k < last, allow_unused=True
        )
        for layer, grad in enumerate(found):
            if grad is not None:
                grads[layer][chosen] = grad[rows].detach().float().cpu()
    return grads


def _numpy(tensor: torch.Tensor, reshape) -> np.ndarray:
    tensor = tensor.detach()
    return (reshape(tensor) if reshape is not None else tensor).float().cpu().numpy()


def layer_maps(
    method: str,
    wrapped: nn.Module,
    layers: CamLayers,
    inputs: torch.Tensor,
    pairs: Pairs,
    activations: list[torch.Tensor],
    grads: list[torch.Tensor] | None,
) -> np.ndarray:
    """``(len(pairs), H, W)`` fused maps in ``[0, 1]`` at the input's size (grad-cam methods)."""
    rows = [i for i, _ in pairs]
    targets = [ClassifierOutputTarget(int(c)) for _, c in pairs]
    size = (inputs.shape[-1], inputs.shape[-2])
    per_layer = []
    with library_cam(method, wrapped, layers.layers) as cam:
        cam.batch_size = 32  # Score-CAM
        for index, layer in enumerate(layers.layers):
            act = _numpy(activations[index][rows], layers.reshape_transform)
            grad = None if grads is None else _numpy(grads[index], layers.reshape_transform)
            raw = cam.get_cam_image(inputs[rows], layer, targets, act, grad, False)
            raw = np.nan_to_num(np.maximum(raw, 0)).astype(np.float32)
            per_layer.append(scale_cam_image(raw, size)[:, None])
        fused = cam.aggregate_multi_layers(per_layer)
    return np.nan_to_num(np.asarray(fused, dtype=np.float32))


@dataclass
class ForwardResult:
    logits: torch.Tensor  # (n, classes), CPU, float
    pairs: Pairs
    maps: np.ndarray  # (len(pairs), H, W) in [0, 1]


def forward_with_cams_locked(
    classifier,
    pixel_values: torch.Tensor,
    choose: Callable[[torch.Tensor], Pairs],
    method: str = "gradcam",
    layer_set: str = "last",
) -> ForwardResult:
    """:func:`forward_with_cams` for a caller that already holds :func:`grad_mode`."""
    layers = cam_layers(classifier, layer_set)
    x = pixel_values.to(classifier.device)
    kwargs = {}
    if layers.family == "vit" and x.shape[-1] != classifier.input_size:
        kwargs["interpolate_pos_encoding"] = True
    wrapped = Logits(classifier.model, **kwargs)
    with ActivationRecorder(layers.layers) as recorder:
        logits = wrapped(x)
    cpu_logits = logits.detach().float().cpu()
    pairs = list(choose(cpu_logits))
    if not pairs:
        empty = np.zeros((0, x.shape[-2], x.shape[-1]), dtype=np.float32)
        return ForwardResult(cpu_logits, pairs, empty)
    activations = recorder.activations()
    grads = class_gradients(logits, activations, pairs) if uses_gradients(method) else None
    maps = layer_maps(method, wrapped, layers, x, pairs, activations, grads)
    return ForwardResult(cpu_logits, pairs, maps)


def forward_with_cams(
    classifier,
    pixel_values: torch.Tensor,
    choose: Callable[[torch.Tensor], Pairs],
    method: str = "gradcam",
    layer_set: str = "last",
) -> ForwardResult:
    """One forward pass: the logits, then ``choose(logits)`` -> pairs, then their maps."""
    with grad_mode(classifier):
        return forward_with_cams_locked(classifier, pixel_values, choose, method, layer_set)


def cams_for_pairs_locked(
    classifier,
    pixel_values: torch.Tensor,
    class_indices: Sequence[int],
    method: str = "gradcam",
    layer_set: str = "last",
) -> np.ndarray:
    """Maps for row ``i`` and class ``class_indices[i]`` (caller holds :func:`grad_mode`)."""
    pairs = [(i, int(c)) for i, c in enumerate(class_indices)]
    return forward_with_cams_locked(
        classifier, pixel_values, lambda _: pairs, method, layer_set
    ).maps
