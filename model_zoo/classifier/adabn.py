"""AdaBN: re-estimate a CNN's BatchNorm statistics on the project's own (unlabeled) images.

A network pretrained on ImageNet normalises every layer with ImageNet's running means and
variances. Inspection photos (grey concrete, stains, shadows) have other statistics; Li et al.
(2016, "Revisiting Batch Normalization For Practical Domain Adaptation") replace them with the
target domain's, which costs one forward pass over unlabeled images and no label. The running
statistics are reset and re-accumulated as an exact average over the batches (``momentum=None``);
the learned scales and shifts are kept. Models without BatchNorm (ViTs) are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaBN:
    min_images: int = 32  # fewer unlabeled images than this: statistics too noisy, skipped
    max_images: int = 512  # a random subset beyond this (the estimate is stable by then)
    batch_size: int = 32


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def adapt_batchnorm(
    classifier, images: Sequence[Image.Image], config: AdaBN = AdaBN(), seed: int = 0
) -> int:
    """Replace ``classifier``'s BatchNorm running statistics with those of ``images``; returns
    how many images were used (0: skipped, too few images or no BatchNorm layer)."""
    model = classifier.model
    layers = batchnorm_layers(model)
    if not layers or len(images) < config.min_images:
        return 0
    if len(images) > config.max_images:
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        images = [images[int(i)] for i in pick[: config.max_images]]
    momenta = [layer.momentum for layer in layers]
    with classifier._lock, torch.no_grad():
        device = classifier.device
        model.eval()
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # cumulative average over the batches
            layer.train()
        try:
            for start in range(0, len(images), config.batch_size):
                pixels = classifier.preprocess(images[start : start + config.batch_size])
                if len(pixels) > 1:  # a batch of one has no variance
                    model(pixel_values=pixels.to(device))
        finally:
            for layer, momentum in zip(layers, momenta, strict=True):
                layer.momentum = momentum
            model.eval()
    log.info("AdaBN: BatchNorm statistics of %d layers from %d images", len(layers), len(images))
    return len(images)
