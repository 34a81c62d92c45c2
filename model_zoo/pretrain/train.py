"""The MAE pretraining run: images in, a new zoo entry out (see ``model_zoo.pretrain.mae``).

Named steps: prepare (check, find and decode the images, build the model), plan (batch, steps,
learning rate: the settings a checkpoint must match), train (epochs of masked reconstruction,
checkpoints and previews), finish (export the entry, record what it was trained on).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model_zoo.device import resolve_device
from model_zoo.pretrain.checkpoint import CHECKPOINT, TrainState
from model_zoo.pretrain.entry import DEFAULT_ENTRY, check_out_name, export_entry
from model_zoo.pretrain.errors import PretrainError
from model_zoo.pretrain.images import augment, cache_side, center, load_images, scan_images
from model_zoo.pretrain.model import build_mae
from model_zoo.pretrain.preview import save_preview
from model_zoo.registry import default_model_dir, zoo_local_dir
from model_zoo.schedules import cosine_schedule

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".bmp", ".webp")


@dataclass
class PretrainConfig:
    out: str
    base: str = "scratch"
    preset: str = "small"
    epochs: int = 20
    mask_ratio: float = 0.75
    image_size: int | None = None
    batch_size: int = 64
    lr: float | None = None  # default: 1e-3 from scratch, 1e-4 when continuing a checkpoint
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    seed: int = 0
    checkpoint_every: int = 100  # steps (and at every epoch's end)
    progress: bool = True
    restart: bool = False
    device: str = "auto"  # auto (CUDA if visible), cpu, cuda or cuda:N


@dataclass
class PretrainResult:
    entry_dir: Path
    work_dir: Path
    images: int
    skipped: int
    steps: int
    epochs: int
    final_loss: float
    seconds: float
    resumed_at_step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    previews: list[Path] = field(default_factory=list)


@dataclass
class _Inputs:
    """What ``prepare`` found: the entry's name and folders, the model, the decoded images."""

    name: str
    work: Path
    entry_dir: Path
    model: Any
    base_text: str
    pixels: torch.Tensor  # uint8 (N, 3, side, side), side >= size
    size: int
    skipped: int

    @property
    def n(self) -> int:
        return int(self.pixels.shape[0])


@dataclass
class _Plan:
    batch: int
    steps_per_epoch: int
    total_steps: int
    lr: float
    settings: dict[str, Any]  # what a checkpoint must match to be resumed


def pretrain(
    images_dir: str | os.PathLike,
    config: PretrainConfig,
    model_dir: str | os.PathLike | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> PretrainResult:
    """MAE-pretrain on the images under ``images_dir`` and register ``config.out`` in the zoo.

    Resumes from ``MODEL_DIR/pretrain/<out>/checkpoint.pt`` when one with the same settings is
    there. On Ctrl-C a checkpoint of the last finished step is written before returning.
    ``on_step(step, loss)`` is called after every optimiser step.
    """
    started = time.perf_counter()
    inputs = _prepare(images_dir, config, Path(model_dir or default_model_dir()))
    plan = _plan(config, inputs)
    device = resolve_device(config.device)
    inputs.model.to(device)
    state = _train_state(inputs, config, plan)
    resumed_at = state.step
    previews, last_loss = _train(inputs, config, plan, state, device, on_step)
    info = _finish(images_dir, config, inputs, plan, state)
    return PretrainResult(
        entry_dir=inputs.entry_dir,
        work_dir=inputs.work,
        images=inputs.n,
        skipped=inputs.skipped,
        steps=state.step,
        epochs=config.epochs,
        final_loss=info["final_epoch_loss"] or last_loss,
        seconds=time.perf_counter() - started,
        resumed_at_step=resumed_at,
        history=info["epoch_losses"],
        previews=previews,
    )


def _prepare(images_dir, config: PretrainConfig, model_dir: Path) -> _Inputs:
    name = check_out_name(config.out, allow_zoo=config.out == DEFAULT_ENTRY)
    if not 0.0 < config.mask_ratio < 1.0:
        raise PretrainError(f"--mask-ratio must be between 0 and 1, got {config.mask_ratio}")
    if config.epochs < 1 or config.batch_size < 1:
        raise PretrainError("--epochs and --batch must be at least 1")
    paths, other = scan_images(images_dir)
    if not paths:
        raise PretrainError(
            f"no images under {images_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}"
            f" recursively{f'; {other} other file(s) ignored' if other else ''})"
        )
    model, base_text = build_mae(
        config.base,
        preset=config.preset,
        image_size=config.image_size,
        mask_ratio=config.mask_ratio,
        model_dir=model_dir,
        seed=config.seed,
    )
    size = int(model.config.image_size)
    pixels, bad = load_images(paths, cache_side(size), progress=config.progress)
    if bad:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(bad), bad[0])
    if int(pixels.shape[0]) == 0:
        raise PretrainError(f"none of the {len(paths)} image files under {images_dir} is readable")
    work, entry_dir = model_dir / "pretrain" / name, zoo_local_dir(model_dir, name)
    return _Inputs(name, work, entry_dir, model, base_text, pixels, size, len(bad) + other)


def _plan(config: PretrainConfig, inputs: _Inputs) -> _Plan:
    batch = min(config.batch_size, inputs.n)
    steps_per_epoch = math.ceil(inputs.n / batch)
    lr = config.lr or (1e-3 if config.base == "scratch" else 1e-4)
    settings = {
        "base": config.base,
        "preset": config.preset if config.base == "scratch" else None,
        "image_size": inputs.size,
        "mask_ratio": config.mask_ratio,
        "epochs": config.epochs,
        "batch_size": batch,
        "lr": lr,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "images": inputs.n,
    }
    return _Plan(batch, steps_per_epoch, steps_per_epoch * config.epochs, lr, settings)


def _train_state(inputs: _Inputs, config: PretrainConfig, plan: _Plan) -> TrainState:
    """AdamW (no decay on biases and norms) with warm-up + cosine; resumed when possible."""
    model = inputs.model
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay}],
        lr=plan.lr,
        betas=(0.9, 0.95),
        weight_decay=0.0,
    )
    warmup = int(round(config.warmup_fraction * plan.total_steps))
    schedule = cosine_schedule(plan.total_steps, warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    inputs.work.mkdir(parents=True, exist_ok=True)
    state = TrainState(inputs.work / CHECKPOINT, plan.settings, model, optimizer, scheduler)
    if config.restart:
        state.path.unlink(missing_ok=True)
    elif state.path.is_file():
        state.resume()
        log.info("resuming %s at step %d of %d", inputs.name, state.step, plan.total_steps)
    return state


def _train(inputs, config, plan, state, device, on_step) -> tuple[list[Path], float]:
    """Epochs until ``plan.total_steps``: a checkpoint and a preview after each. Returns the
    previews and the last loss; on Ctrl-C writes a checkpoint, says so and re-raises."""
    from tqdm.auto import tqdm

    spread = torch.linspace(0, inputs.n - 1, min(4, inputs.n)).round().long()  # mix folders
    preview_pixels = center(inputs.pixels[spread], inputs.size)
    previews: list[Path] = []
    bar = tqdm(
        total=plan.total_steps,
        initial=state.step,
        desc=f"MAE {inputs.name}",
        unit="step",
        disable=not config.progress,
        file=sys.stderr,
    )
    last_loss = float("nan")
    try:
        while state.step < plan.total_steps:
            epoch = state.step // plan.steps_per_epoch
            last_loss = _epoch(inputs, config, plan, state, device, bar, on_step)
            state.save()
            preview = inputs.work / "previews" / f"epoch_{epoch + 1:03d}.png"
            previews.append(save_preview(inputs.model, preview_pixels, preview))
    except KeyboardInterrupt:
        state.save()
        bar.close()
        print(
            f"\ninterrupted at step {state.step}/{plan.total_steps}; checkpoint saved to "
            f"{state.path}. Run the same command again to resume.",
            file=sys.stderr,
        )
        raise
    bar.close()
    final = save_preview(inputs.model, preview_pixels, inputs.work / "previews" / "final.png")
    return previews + [final], last_loss


def _epoch(inputs, config, plan, state, device, bar, on_step) -> float:
    """The remaining steps of the current epoch (random crops and flips, random masks);
    returns the last loss."""
    model = inputs.model
    epoch, first = divmod(state.step, plan.steps_per_epoch)
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(inputs.n, generator=generator)
    n_patches = model.vit.embeddings.patch_embeddings.num_patches
    model.train()
    loss_value = float("nan")
    for i in range(first, plan.steps_per_epoch):
        idx = order[i * plan.batch : (i + 1) * plan.batch]
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + state.step)
        x = augment(inputs.pixels[idx], inputs.size, generator)
        noise = torch.rand(len(idx), n_patches, generator=generator)
        loss = model(pixel_values=x.to(device), noise=noise.to(device)).loss
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        state.optimizer.step()
        state.scheduler.step()
        state.step += 1
        loss_value = loss.item()
        state.history.append({"step": state.step, "epoch": epoch + 1, "loss": loss_value})
        bar.update(1)
        bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{loss_value:.4f}")
        if on_step is not None:
            on_step(state.step, loss_value)
        if state.step % config.checkpoint_every == 0 and state.step % plan.steps_per_epoch:
            state.save()
    return loss_value


def _finish(images_dir, config, inputs: _Inputs, plan: _Plan, state: TrainState) -> dict:
    """Export the entry (with its final preview) and drop the checkpoint; returns the
    entry's record."""
    epoch_losses: dict[int, list[float]] = {}
    for h in state.history:
        epoch_losses.setdefault(h["epoch"], []).append(h["loss"])
    per_epoch = [{"epoch": e, "loss": float(np.mean(v))} for e, v in sorted(epoch_losses.items())]
    info = _entry_info(images_dir, config, inputs, plan, per_epoch)
    export_entry(inputs.model, inputs.entry_dir, info)
    final = inputs.work / "previews" / "final.png"
    shutil.copyfile(final, inputs.entry_dir / "reconstruction.png")
    state.path.unlink(missing_ok=True)  # finished: the entry holds everything
    return info


def _entry_info(images_dir, config, inputs: _Inputs, plan: _Plan, per_epoch) -> dict[str, Any]:
    """``zoo_entry.json``: what the entry was trained on, and how."""
    return {
        "name": inputs.name,
        "kind": "mae-pretrained",
        "base": config.base,
        "base_description": inputs.base_text,
        "preset": plan.settings["preset"],
        "source_images": inputs.n,
        "skipped_files": inputs.skipped,
        "images_dir": str(Path(images_dir).expanduser().resolve()),
        "epochs": config.epochs,
        "steps": plan.total_steps,
        "mask_ratio": config.mask_ratio,
        "image_size": inputs.size,
        "batch_size": plan.batch,
        "lr": plan.lr,
        "seed": config.seed,
        "final_epoch_loss": per_epoch[-1]["loss"] if per_epoch else None,
        "epoch_losses": per_epoch,
        "parameters_encoder": int(sum(p.numel() for p in inputs.model.vit.parameters())),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "usage": "classifier backbone: load_classifier(name, labels); no masking at inference",
    }
