"""CAM methods of the ``grad-cam`` library, by name.

``CAM_METHODS`` is a plain dict ``name -> grad-cam class``. The engine (:mod:`model_zoo.cam.engine`)
runs the forward and backward passes itself and uses each class only for what it defines: the
map of one layer from its activations and gradients (``get_cam_image``, which calls the
method's ``get_cam_weights``) and the fusion of several layers (``aggregate_multi_layers``).
:func:`library_cam` builds such an object and releases the hooks the library registers at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pytorch_grad_cam import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
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

_ALIASES = {"gradcamplusplus": "gradcam++", "gradcampp": "gradcam++"}


def method_key(name: str) -> str:
    """The registry key of ``name`` (case, ``-`` and ``_`` ignored); a clear error otherwise."""
    key = str(name).strip().lower().replace("_", "").replace("-", "")
    key = _ALIASES.get(key, key)
    if key not in CAM_METHODS:
        raise KeyError(f"unknown CAM method {name!r}: choose one of {', '.join(CAM_METHODS)}")
    return key


def cam_method(name: str) -> type:
    """The grad-cam class called ``name``."""
    return CAM_METHODS[method_key(name)]


def uses_gradients(name: str) -> bool:
    """Whether the method needs gradients at the target layers (EigenCAM does not)."""
    return cam_method(name) is not EigenCAM


@contextlib.contextmanager
def library_cam(name: str, model: nn.Module, layers: list[nn.Module]) -> Iterator:
    """A grad-cam method object whose own hooks are already released (the engine records
    activations and gradients itself); ``model`` is only used by methods that run it again
    (Score-CAM)."""
    cam = cam_method(name)(model=model, target_layers=layers)
    cam.activations_and_grads.release()
    try:
        yield cam
    finally:
        cam.activations_and_grads.release()
