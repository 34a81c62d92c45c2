"""Training the segmentation network on (image, mask per label) pairs.

At the resolution it predicts at (:mod:`model_zoo.segmentation.crops`, ``tiles`` mode): each
epoch draws crops of ``crop_size`` (default: ``input_size``, the prediction tile; the network is
fully convolutional, so smaller crops train it faster) from every sample at its working size, most of them centred
on a defect (a thin crack is a few percent of the pixels), with random flips, quarter turns and
a brightness/contrast jitter. Samples without foreground (images labeled without defects) train
the background. Pixels a sample marks ``ignore`` do not count (pseudo-masks).

A seeded hold-out of the samples *with* foreground (``holdout_fraction``; 0: none, every
epoch runs and the last is kept); AdamW on the whole network (the pretrained encoder at a tenth
of the decoder's learning rate) with a warm-up + cosine schedule; the loss from
:mod:`model_zoo.segmentation.losses`; after every epoch the IoU per label on the hold-out masks
(at the images' original size, tiled, as served); early stopping when the hold-out mean IoU has
not improved for ``patience`` epochs, keeping the best epoch's weights.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from model_zoo.device import resolve_device
from model_zoo.schedules import cosine_schedule
from model_zoo.segmentation.crops import (
    IGNORE,
    crops_per_sample,
    epoch_crops,
    prepare,
    to_input,
)
from model_zoo.segmentation.data import SegmentationSample, augment, holdout_split
from model_zoo.segmentation.encoders import encoder_spec
from model_zoo.segmentation.losses import build_loss
from model_zoo.segmentation.metrics import iou_per_label, mean_iou
from model_zoo.segmentation.model import SegmentationModel
from model_zoo.segmentation.network import build_network
from model_zoo.segmentation.tiling import DEFAULT_MAX_SIDE, DEFAULT_MIN_SIDE

log = logging.getLogger(__name__)

MIN_SAMPLES = 10


@dataclass
class SegTrainConfig:
    encoder: str = "efficientnet_lite0"
    pretrained: bool = True
    input_size: int | None = None  # prediction tile side; None: the encoder's (a multiple of 32)
    crop_size: int | None = None  # training crop side (a multiple of 32); None: input_size
    max_side: int = DEFAULT_MAX_SIDE  # larger images are shrunk to this longer side first
    min_side: int = DEFAULT_MIN_SIDE  # smaller ones enlarged towards this shorter side (<= 2x)
    loss: str = "dice_bce"
    epochs: int = 30
    patience: int = 5
    batch_size: int = 8
    lr: float = 3e-3
    warmup: float = 0.05  # share of the steps warming the learning rate up
    holdout_fraction: float = 0.2  # of the samples with foreground; 0: no hold-out
    threshold: float = 0.5
    seed: int = 0
    device: str = "auto"
    min_samples: int = MIN_SAMPLES  # fewest samples with foreground
    max_seconds: float | None = None
    defect_share: float = 0.7  # crops centred on a defect pixel
    crops_per_image: int = 4  # most crops of one large image per epoch
    overlap: int = 32  # between prediction tiles
    jitter: float = 0.15  # brightness / contrast jitter (0: none)


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


def _jitter(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """Per image, contrast x (1 +- amount) about its mean and brightness +- amount (in the
    normalised units, about one standard deviation of ImageNet per unit)."""
    if amount <= 0:
        return x
    n = x.shape[0]
    contrast = 1 + amount * (2 * torch.rand((n, 1, 1, 1), generator=generator) - 1)
    bright = amount * (2 * torch.rand((n, 1, 1, 1), generator=generator) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + bright


@dataclass
class _Run:
    """What every epoch needs."""

    network: torch.nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: torch.nn.Module
    prepared: list
    config: SegTrainConfig
    generator: torch.Generator
    rng: np.random.Generator
    device: torch.device
    side: int


def _epoch(run: _Run) -> float:
    run.network.train()
    config = run.config
    images, targets = epoch_crops(
        run.prepared, run.side, run.rng, config.defect_share, config.crops_per_image
    )
    total = 0.0
    for start in range(0, len(images), config.batch_size):
        x = to_input(images[start : start + config.batch_size])
        y = torch.from_numpy(targets[start : start + config.batch_size])
        x, y = augment(x, y, run.generator)
        x = _jitter(x, config.jitter, run.generator)
        run.optimiser.zero_grad(set_to_none=True)
        loss = run.loss_fn(run.network(x.to(run.device)), y.to(run.device))
        loss.backward()
        run.optimiser.step()
        run.scheduler.step()
        total += float(loss.detach()) * len(x)
    return total / max(len(images), 1)


@dataclass
class _Best:
    """The best epoch so far by hold-out mean IoU, and the weights it had."""

    score: float = -1.0
    state: dict | None = None
    epoch: int = 0
    per_label: dict = field(default_factory=dict)


def split_samples(samples: Sequence[SegmentationSample], config: SegTrainConfig):
    """``(train, holdout)``: the hold-out drawn from the samples with foreground only."""
    masked = [i for i, s in enumerate(samples) if s.has_foreground]
    if config.holdout_fraction <= 0 or len(masked) < 2:
        return list(samples), []
    _, held = holdout_split(len(masked), config.holdout_fraction, config.seed)
    held_ids = {masked[i] for i in held}
    train = [s for i, s in enumerate(samples) if i not in held_ids]
    return train, [samples[i] for i in sorted(held_ids)]


def train_segmentation(
    samples: Sequence[SegmentationSample],
    labels: Sequence[str],
    config: SegTrainConfig | None = None,
    progress: Callable[[int, dict], None] | None = None,
    start: SegmentationModel | None = None,
) -> SegmentationModel:
    """Train on ``samples`` (checked: a mask that does not fit its image raises ValueError)
    and return the model; ``model.meta`` holds the report (hold-out IoU per label, ...).
    ``start``: a model of the same encoder and labels whose weights to start from."""
    config = config or SegTrainConfig()
    labels = list(labels)
    spec = encoder_spec(config.encoder)
    size = _checked_size(samples, config, spec)
    torch.manual_seed(config.seed)
    train, holdout = split_samples(samples, config)
    device = resolve_device(config.device)
    network = build_network(spec, len(labels), pretrained=config.pretrained and start is None)
    if start is not None:
        network.load_state_dict(start.network.state_dict())
    network = network.to(device)
    model = SegmentationModel(network, labels, spec.name, size, config.threshold, {}, str(device))
    model.max_side, model.overlap, model.min_side = config.max_side, config.overlap, config.min_side
    started = time.monotonic()
    best, history = _fit(model, train, holdout, config, device, progress)
    network.load_state_dict(best.state)
    network.eval()
    model.meta = {
        "holdout_iou": best.per_label,
        "holdout_mean_iou": best.score if holdout else None,
        "best_epoch": best.epoch,
        "epochs_run": len(history),
        "history": history,
        "train_samples": len(train),
        "train_masked_samples": sum(s.has_foreground for s in train),
        "holdout_samples": len(holdout),
        "holdout_keys": [s.key for s in holdout],
        "seconds": round(time.monotonic() - started, 2),
        "config": asdict(config),
    }
    return model


def _checked_size(samples: Sequence[SegmentationSample], config: SegTrainConfig, spec) -> int:
    """The network's input side, once the samples are enough and every mask fits its image."""
    masked = sum(s.has_foreground for s in samples)
    if masked < max(2, config.min_samples):
        raise TooFewMasks(
            f"{masked} masked images; the segmentation model needs at least "
            f"{max(2, config.min_samples)}"
        )
    for sample in samples:
        sample.check()
    size = int(config.input_size or spec.input_size)
    for name, value in (("input_size", size), ("crop_size", config.crop_size or size)):
        if value < 32 or value % 32:
            raise ValueError(f"{name} must be a multiple of 32 (>= 32), not {value}")
    return size


def _start(model, train, config: SegTrainConfig, device) -> _Run:
    prepared = [prepare(s, model.labels, config.max_side, config.min_side) for s in train]
    side = int(config.crop_size or model.input_size)
    crops = sum(crops_per_sample(p, side, config.crops_per_image) for p in prepared)
    steps_per_epoch = math.ceil(crops / config.batch_size)
    total = max(1, steps_per_epoch * config.epochs)
    network = model.network
    optimiser = torch.optim.AdamW(_param_groups(network, config.lr, config.pretrained), config.lr)
    factor = cosine_schedule(total, round(config.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    return _Run(
        network=network,
        optimiser=optimiser,
        scheduler=scheduler,
        loss_fn=build_loss(config.loss, ignore=IGNORE).to(device),
        prepared=prepared,
        config=config,
        generator=torch.Generator().manual_seed(config.seed),
        rng=np.random.default_rng(config.seed),
        device=device,
        side=side,
    )


def _fit(model, train, holdout, config: SegTrainConfig, device, progress):
    """Epochs until ``patience`` epochs bring no better hold-out IoU, ``config.epochs`` or
    ``max_seconds``; returns the best epoch (the last without a hold-out) and the history."""
    run = _start(model, train, config, device)
    best, history, started = _Best(), [], time.monotonic()
    for epoch in range(1, config.epochs + 1):
        loss = _epoch(run)
        record = {"epoch": epoch, "loss": round(loss, 5)}
        if holdout:
            per_label = _evaluate(model, holdout)
            score = mean_iou(per_label) or 0.0
            record["holdout_mean_iou"] = score
        else:
            per_label, score = {}, float(epoch)
        history.append(record)
        log.info("segmentation epoch %d/%d: %s", epoch, config.epochs, record)
        if progress:
            progress(epoch, record)
        if score > best.score:
            best = _Best(score, copy.deepcopy(run.network.state_dict()), epoch, per_label)
        if holdout and epoch - best.epoch >= config.patience:
            break
        if config.max_seconds and time.monotonic() - started > config.max_seconds:
            log.info("segmentation training stops at its time limit after epoch %d", epoch)
            break
    return best, history
