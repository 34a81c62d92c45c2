"""``advcam``: AdvCAM-style adversarial climbing (Lee et al., CVPR 2021).

The input is nudged for a few steps to raise the class logit and lower the logits of the
image's other chosen classes, with a penalty on changing the target layer's features where the
first map is already high (the restricting mask); the maps of all steps are summed. Deviations
from the paper: the penalty is on target-layer features rather than on the CAM itself (grad-cam's
maps are not differentiable), and steps use an L1-normalised gradient. It is the one refinement
whose gradients reach the input, and each step is one more forward + backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model_zoo.cam.engine import Logits, cams_for_pairs_locked, grad_mode
from model_zoo.cam.layers import cam_layers
from model_zoo.cam.refinements.base import Refinement


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


def _suppress(pairs, num_classes: int) -> torch.Tensor:
    """Per pair: the image's other chosen classes (their logits are pushed down)."""
    out = torch.zeros(len(pairs), num_classes)
    for p, (image, cls) in enumerate(pairs):
        for other_image, other in pairs:
            if other_image == image and other != cls:
                out[p, other] = 1.0
    return out


class AdvCam(Refinement):
    name = "advcam"
    summary = "AdvCAM-style adversarial climbing, maps of all steps summed"

    def __init__(self, config: AdvCamConfig | None = None):
        self.config = config or AdvCamConfig()

    def refine_maps(self, classifier, pixel_values, pairs, maps, config):
        if not pairs:
            return maps
        layers = cam_layers(classifier, "last")
        classes = [c for _, c in pairs]
        with grad_mode(classifier):
            total = self._climb(classifier, pixel_values, pairs, maps, classes, layers, config)
        top = total.reshape(len(total), -1).max(axis=1).reshape(-1, 1, 1)
        return np.where(top > 0, total / np.maximum(top, 1e-12), 0.0).astype(np.float32)

    def _climb(self, classifier, pixel_values, pairs, maps, classes, layers, config):
        device = classifier.device
        settings = getattr(config, "advcam", None) or self.config
        x0 = pixel_values[[i for i, _ in pairs]].to(device)
        model = Logits(classifier.model)
        total = maps.copy()
        handle, store = _feature_hook(layers.layers[-1], layers.reshape_transform)
        try:
            with torch.no_grad():
                logits = model(x0)
                f0 = store["features"].detach()
            grid = torch.from_numpy(maps)[:, None].to(device)
            restrict = torch.nn.functional.interpolate(grid, size=f0.shape[-2:], mode="area")
            restrict = (restrict >= settings.mask_level).float()
            rows = torch.arange(len(pairs), device=device)
            target = torch.as_tensor(classes, device=device)
            suppress = _suppress(pairs, logits.shape[1]).to(device)
            x = x0.clone()
            for _ in range(settings.steps):
                x.requires_grad_(True)
                logits = model(x)
                gain = logits[rows, target] - (logits * suppress).sum(dim=1)
                change = (restrict * (store["features"] - f0).abs()).flatten(1).mean(dim=1)
                (grad,) = torch.autograd.grad((gain - settings.penalty * change).sum(), x)
                scale = grad.abs().flatten(1).mean(dim=1).clamp_min(1e-12)[:, None, None, None]
                x = (x + settings.step_size * grad / scale).detach()
                total += cams_for_pairs_locked(classifier, x, classes, config.method, config.layers)
        finally:
            handle.remove()
        return total
