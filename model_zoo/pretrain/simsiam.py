"""Domain pretraining of a CNN backbone: SimSiam continued from its ImageNet weights.

``python -m model_zoo pretrain --from efficientnet-lite0 --images DIR --out NAME`` continues the
self-supervised training of a generic checkpoint on the user's unlabeled inspection images
(the paper's hierarchical pretraining: generic data first, then task-specific data). SimSiam
(Chen & He, 2021) suits a CNN on one machine: no negatives, no momentum encoder, small batches
work. The projection and prediction heads and the loss come from ``lightly``
(``SimSiamProjectionHead``, ``SimSiamPredictionHead``, ``NegativeCosineSimilarity``), the two
views from lightly's ``SimSiamTransform`` with crops that keep at least ``min_scale`` of the
image (thin defects survive) and flips both ways (inspection photos have no up).

Checkpoints (backbone, heads, optimizer, step) are written atomically every
``checkpoint_every`` steps to ``MODEL_DIR/pretrain/<name>/checkpoint.pt`` and read back with
``weights_only=True``; a run that is stopped continues from there. The result is a zoo entry
``MODEL_DIR/zoo/<name>/`` (the base's ``save_pretrained`` layout with the new backbone weights,
plus ``pretrain.json``), loaded by name like any other.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from model_zoo.classifier.adabn import batchnorm_layers
from model_zoo.classifier.model import ImageClassifier, load_classifier
from model_zoo.classifier.parts import normalisation, timm_model
from model_zoo.classifier.training import warmup_cosine
from model_zoo.data.dataset import open_image
from model_zoo.device import resolve_device
from model_zoo.pretrain.mae import PretrainError, check_out_name, scan_images
from model_zoo.registry import ZOO
from model_zoo.storage.atomic import write_atomic, write_dir_atomic

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
RECORD = "pretrain.json"


@dataclass
class SimSiamConfig:
    out: str
    base: str = "efficientnet-lite0"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.01  # SGD; low, because the backbone continues from ImageNet weights
    image_size: int | None = None  # default: the base's input size
    min_scale: float = 0.4
    blur: float = 0.5  # probability of lightly's Gaussian blur in a view (0: thin cracks kept)
    train_blocks: int | None = None  # top blocks trained (None: all); the rest only adapt BN
    # keep the BatchNorm running statistics SimSiam's augmented views leave behind (False: the
    # base's are put back at export; on real wall tiles the learned ones cost 19 points at 5
    # labels per class and the base's were level with ImageNet: docs/classifier.md)
    learned_bn_statistics: bool = False
    hidden_dim: int = 512
    seed: int = 0
    checkpoint_every: int = 50
    restart: bool = False
    device: str = "auto"
    progress: bool = True


@dataclass
class SimSiamResult:
    entry_dir: Path
    images: int
    skipped: int
    epochs: int
    steps: int
    seconds: float
    resumed_at_step: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    representation_std: list[float] = field(default_factory=list)


def is_cnn_base(name: str) -> bool:
    """Whether ``pretrain --from name`` continues the backbone with SimSiam (zoo CNN entries
    and timm folders); transformers ViT bases stay with MAE."""
    entry = ZOO.get(name)
    if entry is not None:
        return entry.family in {"efficientnet"}
    config = Path(name).expanduser() / "config.json"
    if config.is_file():
        saved = json.loads(config.read_text())  # timm's save_for_hf writes no model_type
        return saved.get("model_type") == "timm_wrapper" or "architecture" in saved
    return False


class SimSiam(nn.Module):
    """A timm backbone (pooled features) + lightly's projection and prediction heads."""

    def __init__(self, backbone: nn.Module, hidden_dim: int) -> None:
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        super().__init__()
        self.backbone = backbone
        width = int(backbone.num_features)
        self.projection = SimSiamProjectionHead(width, width, hidden_dim)
        self.prediction = SimSiamPredictionHead(hidden_dim, hidden_dim // 4, hidden_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)
        z = self.projection(pooled)
        return z.detach(), self.prediction(z)


def _views(classifier: ImageClassifier, config: SimSiamConfig, side: int):
    from lightly.transforms import SimSiamTransform

    mean, std = normalisation(classifier.processor)
    return SimSiamTransform(
        input_size=side,
        min_scale=config.min_scale,
        vf_prob=0.5,
        rr_prob=0.5,  # 90-degree rotations
        cj_hue=0.02,  # concrete is grey: little hue jitter
        gaussian_blur=config.blur,
        normalize={"mean": list(mean), "std": list(std)},
    )


def _read(paths: list[Path], side: int, progress: bool) -> tuple[list[Image.Image], int]:
    from tqdm.auto import tqdm

    images, bad = [], 0
    for path in tqdm(paths, desc="reading images", unit="img", disable=not progress):
        try:
            image = open_image(path)
            image.thumbnail((side * 2, side * 2), Image.Resampling.BICUBIC)
            images.append(image)
        except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
            log.debug("cannot read %s: %s", path, exc)
            bad += 1
    return images, bad


def freeze_lower(backbone: nn.Module, train_blocks: int | None) -> list[nn.Parameter]:
    """Freeze the stem and all but the top ``train_blocks`` blocks (None: train everything);
    returns the parameters left to train. Frozen layers get no gradient (no backward pass
    through them: the cheap CPU option), but their BatchNorm statistics still follow the
    domain's images, since the whole model stays in train mode."""
    if train_blocks is None:
        return list(backbone.parameters())
    stages = list(getattr(backbone, "blocks", []))
    if not stages:
        raise PretrainError("--train-blocks needs a timm CNN with a 'blocks' sequence")
    trained = {
        id(p) for stage in stages[len(stages) - max(0, train_blocks) :] for p in stage.parameters()
    }
    for name in ("conv_head", "bn2"):
        module = getattr(backbone, name, None)
        trained |= {id(p) for p in module.parameters()} if module is not None else set()
    for p in backbone.parameters():
        p.requires_grad = id(p) in trained
    return [p for p in backbone.parameters() if p.requires_grad]


def bn_statistics(module: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """A copy of every BatchNorm layer's running mean and variance (None: it tracks none)."""
    return [
        (layer.running_mean.clone(), layer.running_var.clone())
        if layer.running_mean is not None and layer.running_var is not None
        else None
        for layer in batchnorm_layers(module)
    ]


def restore_bn_statistics(module: nn.Module, saved) -> None:
    """Put back the running statistics :func:`bn_statistics` copied."""
    with torch.no_grad():
        for layer, stats in zip(batchnorm_layers(module), saved, strict=True):
            if stats is not None:
                layer.running_mean.copy_(stats[0])
                layer.running_var.copy_(stats[1])


def _checkpoint(path: Path, model, optimizer, step: int, config: SimSiamConfig, history) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "base": config.base,
        "train_blocks": -1 if config.train_blocks is None else config.train_blocks,
        "history": history,
    }
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def _resume(path: Path, model, optimizer, config: SimSiamConfig) -> tuple[int, dict]:
    if config.restart or not path.is_file():
        return 0, {"epoch_losses": [], "representation_std": []}
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("base") != config.base:
        raise PretrainError(
            f"{path} continues {state.get('base')!r}, not {config.base!r}: add --restart to "
            "start over"
        )
    blocks = -1 if config.train_blocks is None else config.train_blocks
    if int(state.get("train_blocks", -1)) != blocks:
        raise PretrainError(
            f"{path} trained other blocks ({state.get('train_blocks')}); add --restart"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), dict(state["history"])


def _export(classifier: ImageClassifier, entry_dir: Path, info: dict[str, Any]) -> Path:
    """The base's layout with the new backbone, written beside ``entry_dir`` then renamed."""

    def write(folder: Path) -> None:
        classifier.model.save_pretrained(folder, safe_serialization=True)
        classifier.processor.save_pretrained(folder)
        (folder / RECORD).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    return write_dir_atomic(entry_dir, write)


@torch.no_grad()
def representation_std(model: SimSiam, batch: torch.Tensor) -> float:
    """Std of the L2-normalised projections, averaged over dimensions: ~1/sqrt(d) when
    healthy, 0 when SimSiam has collapsed (lightly's documented check)."""
    was_training = model.training
    model.eval()
    z, _ = model(batch)
    model.train(was_training)
    return float(nn.functional.normalize(z, dim=1).std(dim=0).mean())


@dataclass
class _Run:
    """What the training loop needs: the model and its optimiser, the images, the plan."""

    model: SimSiam
    optimizer: torch.optim.Optimizer
    images: list[Image.Image]
    views: Any
    device: torch.device
    batch: int
    steps_per_epoch: int
    total: int
    checkpoint: Path
    config: SimSiamConfig


def _train(run: _Run, step: int, history: dict) -> None:
    """SimSiam steps from ``step`` to ``run.total``: symmetric negative cosine loss of each
    view's prediction against the other's (detached) projection; a checkpoint every
    ``checkpoint_every`` steps and at the end; per-epoch loss and collapse check in ``history``."""
    from lightly.loss import NegativeCosineSimilarity
    from tqdm.auto import tqdm

    loss_fn, config = NegativeCosineSimilarity(), run.config
    schedule = warmup_cosine(run.optimizer, run.total, 0.05)
    for _ in range(step):
        schedule.step()
    generator = np.random.default_rng(config.seed + step)
    bar = tqdm(
        total=run.total, initial=step, desc="simsiam", unit="step", disable=not config.progress
    )
    run.model.train()
    epoch_loss: list[float] = []
    while step < run.total:
        order = generator.permutation(len(run.images))
        for start in range(0, run.steps_per_epoch * run.batch, run.batch):
            pairs = [run.views(run.images[i]) for i in order[start : start + run.batch]]
            x0 = torch.stack([a for a, _ in pairs]).to(run.device)
            x1 = torch.stack([b for _, b in pairs]).to(run.device)
            (z0, p0), (z1, p1) = run.model(x0), run.model(x1)
            loss = 0.5 * (loss_fn(z0, p1) + loss_fn(z1, p0))
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            schedule.step()
            step += 1
            epoch_loss.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=round(epoch_loss[-1], 4))
            if step % run.steps_per_epoch == 0:
                history["epoch_losses"].append(float(np.mean(epoch_loss)))
                history["representation_std"].append(representation_std(run.model, x0))
                epoch_loss = []
            if step % max(1, config.checkpoint_every) == 0 or step == run.total:
                _checkpoint(run.checkpoint, run.model, run.optimizer, step, config, history)
            if step >= run.total:
                break
    bar.close()


def pretrain_simsiam(
    images_dir: str | os.PathLike, config: SimSiamConfig, *, model_dir: Path
) -> SimSiamResult:
    """Continue ``config.base`` with SimSiam on the images under ``images_dir``."""
    check_out_name(config.out)
    started = time.perf_counter()
    classifier = load_classifier(config.base, model_dir=model_dir, device="cpu")
    backbone = timm_model(classifier.model)
    if backbone is None:
        raise PretrainError(f"{config.base!r} is not a timm CNN; ViT bases pretrain with MAE")
    side = int(config.image_size or classifier.input_size)
    paths, other = scan_images(images_dir)
    images, bad = _read(paths, side, config.progress)
    if len(images) < 2:
        raise PretrainError(f"{images_dir}: {len(images)} readable images; SimSiam needs more")
    device = resolve_device(config.device)
    model = SimSiam(backbone, config.hidden_dim).to(device)
    trained = freeze_lower(backbone, config.train_blocks)
    heads = [*model.projection.parameters(), *model.prediction.parameters()]
    optimizer = torch.optim.SGD(trained + heads, lr=config.lr, momentum=0.9, weight_decay=1e-4)
    batch = min(config.batch_size, len(images))
    steps_per_epoch = max(1, len(images) // batch)
    run = _Run(
        model, optimizer, images, _views(classifier, config, side), device, batch,
        steps_per_epoch, config.epochs * steps_per_epoch,
        model_dir / "pretrain" / config.out / CHECKPOINT, config,
    )  # fmt: skip
    base_statistics = bn_statistics(backbone)
    step, history = _resume(run.checkpoint, model, optimizer, config)
    _train(run, step, history)
    model.to("cpu").eval()
    if not config.learned_bn_statistics:
        restore_bn_statistics(backbone, base_statistics)
    result = SimSiamResult(
        entry_dir=model_dir / "zoo" / config.out,
        images=len(images),
        skipped=bad + other,
        epochs=config.epochs,
        steps=run.total,
        seconds=time.perf_counter() - started,
        resumed_at_step=step,
        epoch_losses=history["epoch_losses"],
        representation_std=history["representation_std"],
    )
    info = {
        "method": "simsiam (lightly)",
        "base": config.base,
        "images": str(Path(images_dir).resolve()),
        "config": {k: v for k, v in asdict(config).items() if k != "progress"},
        "epoch_losses": result.epoch_losses,
        "representation_std": result.representation_std,
        "healthy_std": 1 / math.sqrt(config.hidden_dim),
        "bn_statistics": "learned" if config.learned_bn_statistics else f"{config.base}'s (kept)",
    }
    _export(classifier, result.entry_dir, info)
    return result
