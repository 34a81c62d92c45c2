"""Training the segmentation network on (image, mask per label) pairs.

A seeded hold-out split of the samples; AdamW on the whole network (the pretrained encoder at a
tenth of the decoder's learning rate); random flips and quarter turns; the loss from
:mod:`model_zoo.segmentation.losses`; after every epoch the IoU per label on the hold-out
masks (at the images' original size, as served); early stopping when the hold-out mean IoU has
not improved for ``patience`` epochs, keeping the best epoch's weights.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from model_zoo.device import resolve_device
from model_zoo.segmentation.data import (
    SegmentationSample,
    augment,
    holdout_split,
    image_tensor,
    mask_tensor,
)
from model_zoo.segmentation.encoders import encoder_spec
from model_zoo.segmentation.losses import build_loss
from model_zoo.segmentation.metrics import iou_per_label, mean_iou
from model_zoo.segmentation.model import SegmentationModel
from model_zoo.segmentation.network import build_network

log = logging.getLogger(__name__)

MIN_SAMPLES = 10


@dataclass
class SegTrainConfig:
    encoder: str = "efficientnet_lite0"
    pretrained: bool = True
    input_size: int | None = None  # None: the encoder's default (a multiple of 32)
    loss: str = "dice_bce"
    epochs: int = 30
    patience: int = 5
    batch_size: int = 8
    lr: float = 3e-3
    holdout_fraction: float = 0.2
    threshold: float = 0.5
    seed: int = 0
    device: str = "auto"
    min_samples: int = MIN_SAMPLES
    max_seconds: float | None = None


class TooFewMasks(ValueError):
    """Fewer samples than a training round needs; the message says how many there are."""


def _param_groups(network: torch.nn.Module, lr: float, pretrained: bool) -> list[dict]:
    encoder = list(network.encoder.parameters())
    ids = {id(p) for p in encoder}
    rest = [p for p in network.parameters() if id(p) not in ids]
    return [{"params": encoder, "lr": lr * (0.1 if pretrained else 1.0)}, {"params": rest}]


def _evaluate(model: SegmentationModel, samples: Sequence[SegmentationSample]) -> dict:
    predicted = model.predict_masks([s.image for s in samples])
    truth = [{k: np.asarray(v, bool) for k, v in s.masks.items()} for s in samples]
    return iou_per_label(predicted, truth, model.labels)


def _epoch(network, optimiser, loss_fn, x, y, config, generator, device) -> float:
    network.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for start in range(0, len(x), config.batch_size):
        idx = order[start : start + config.batch_size]
        xb, yb = augment(x[idx], y[idx], generator)
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(network(xb.to(device)), yb.to(device))
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(idx)
    return total / max(len(x), 1)


@dataclass
class _Best:
    """The best epoch so far by hold-out mean IoU, and the weights it had."""

    score: float = -1.0
    state: dict | None = None
    epoch: int = 0
    per_label: dict = field(default_factory=dict)


def train_segmentation(
    samples: Sequence[SegmentationSample],
    labels: Sequence[str],
    config: SegTrainConfig | None = None,
    progress: Callable[[int, dict], None] | None = None,
) -> SegmentationModel:
    """Train on ``samples`` (checked: a mask that does not fit its image raises ValueError)
    and return the model; ``model.meta`` holds the report (hold-out IoU per label, ...)."""
    config = config or SegTrainConfig()
    labels = list(labels)
    spec = encoder_spec(config.encoder)
    size = _checked_size(samples, config, spec)
    torch.manual_seed(config.seed)
    train_idx, hold_idx = holdout_split(len(samples), config.holdout_fraction, config.seed)
    train = [samples[i] for i in train_idx]
    holdout = [samples[i] for i in hold_idx]
    device = resolve_device(config.device)
    network = build_network(spec, len(labels), pretrained=config.pretrained).to(device)
    model = SegmentationModel(network, labels, spec.name, size, config.threshold, {}, str(device))
    started = time.monotonic()
    best, history = _fit(model, train, holdout, config, device, progress)
    network.load_state_dict(best.state)
    network.eval()
    model.meta = {
        "holdout_iou": best.per_label,
        "holdout_mean_iou": best.score,
        "best_epoch": best.epoch,
        "epochs_run": len(history),
        "history": history,
        "train_samples": len(train),
        "holdout_samples": len(holdout),
        "holdout_keys": [s.key for s in holdout],
        "seconds": round(time.monotonic() - started, 2),
        "config": asdict(config),
    }
    return model


def _checked_size(samples: Sequence[SegmentationSample], config: SegTrainConfig, spec) -> int:
    """The network's input side, once the samples are enough and every mask fits its image."""
    if len(samples) < max(2, config.min_samples):
        raise TooFewMasks(
            f"{len(samples)} masked images; the segmentation model needs at least "
            f"{max(2, config.min_samples)}"
        )
    for sample in samples:
        sample.check()
    size = int(config.input_size or spec.input_size)
    if size < 32 or size % 32:
        raise ValueError(f"input_size must be a multiple of 32 (>= 32), not {size}")
    return size


def _fit(model, train, holdout, config: SegTrainConfig, device, progress):
    """Epochs until ``patience`` epochs bring no better hold-out IoU, ``config.epochs`` or
    ``max_seconds``; returns the best epoch and the history."""
    network = model.network
    generator = torch.Generator().manual_seed(config.seed)
    x = image_tensor([s.image for s in train], model.input_size)
    y = mask_tensor(train, model.labels, model.input_size)
    loss_fn = build_loss(config.loss).to(device)
    optimiser = torch.optim.AdamW(_param_groups(network, config.lr, config.pretrained), config.lr)
    best, history, started = _Best(), [], time.monotonic()
    for epoch in range(1, config.epochs + 1):
        loss = _epoch(network, optimiser, loss_fn, x, y, config, generator, device)
        per_label = _evaluate(model, holdout)
        score = mean_iou(per_label) or 0.0
        history.append({"epoch": epoch, "loss": round(loss, 5), "holdout_mean_iou": score})
        if progress:
            progress(epoch, history[-1])
        if score > best.score:
            best = _Best(score, copy.deepcopy(network.state_dict()), epoch, per_label)
        if epoch - best.epoch >= config.patience:
            break
        if config.max_seconds and time.monotonic() - started > config.max_seconds:
            log.info("segmentation training stops at its time limit after epoch %d", epoch)
            break
    return best, history
