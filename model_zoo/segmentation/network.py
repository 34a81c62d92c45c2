"""Building the segmentation network: an smp U-Net on a timm encoder, one output per label."""

from __future__ import annotations

import segmentation_models_pytorch as smp
from torch import nn

from model_zoo.segmentation.encoders import EncoderSpec, load_encoder_weights


def build_network(spec: EncoderSpec, n_labels: int, pretrained: bool = True) -> nn.Module:
    """A U-Net whose encoder is ``spec``'s timm model; ``pretrained`` loads its ImageNet
    weights (when the entry has any). Outputs ``(N, n_labels, H, W)`` logits."""
    if n_labels < 1:
        raise ValueError("a segmentation network needs at least one label")
    network = smp.Unet(
        encoder_name=f"tu-{spec.timm_name}",
        encoder_weights=None,
        encoder_depth=len(spec.decoder_channels),
        decoder_channels=spec.decoder_channels,
        in_channels=3,
        classes=int(n_labels),
    )
    if pretrained and spec.pretrained is not None:
        load_encoder_weights(network.encoder.model, spec.pretrained(), spec.name)
    return network
