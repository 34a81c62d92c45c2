"""``python -m model_zoo pretrain``: a domain foundation model from your unlabeled images (MAE).

Masked-autoencoder pretraining (He et al. 2022, transformers' ``ViTMAEForPreTraining``) on any
folder of images, as in the paper's first workflow: start from scratch (a ``--preset``
architecture) or continue from a checkpoint (``--from NAME``: a zoo name, a directory or a hub
id; "hierarchical" pretraining), mask ``--mask-ratio`` of the patches and learn to reconstruct
their pixels. The result is a new zoo entry under ``MODEL_DIR/zoo/<out>/`` that the classifier,
CAMs and fine-tuning use by name::

    MODEL_DIR/zoo/<out>/config.json, model.safetensors   the encoder as a plain ViT (no masking)
    MODEL_DIR/zoo/<out>/preprocessor_config.json         its image processor
    MODEL_DIR/zoo/<out>/zoo_entry.json                   what it was trained on, and how
    MODEL_DIR/zoo/<out>/reconstruction.png               original | masked | reconstruction
    MODEL_DIR/zoo/<out>/mae/                             the whole MAE (decoder too), to continue

While it runs, ``MODEL_DIR/pretrain/<out>/`` holds the checkpoint (written atomically every
``--checkpoint-every`` steps and at each epoch's end) and a reconstruction preview per epoch.
Running the same command again after a kill resumes from the last checkpoint.

``python -m model_zoo pretrain --default`` builds the embedded default ``fm-concrete-small``
(also built on first use by ``load_classifier``): MAE on synthetic concrete images, a few
minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pickle
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from model_zoo.data.dataset import is_image_file, open_image
from model_zoo.device import resolve_device
from model_zoo.loading import build_config, pretrained_location, resolve_source
from model_zoo.pretrain.configs import (
    MEAN,
    PRESETS,
    STD,
    encoder_config,
    mae_config_from_vit,
    preset_for,
    vit_config_from_mae,
    vit_processor,
)
from model_zoo.registry import ZOO, default_model_dir, zoo_local_dir
from model_zoo.storage.atomic import write_atomic

log = logging.getLogger(__name__)

ENTRY_FILE = "zoo_entry.json"
CHECKPOINT = "checkpoint.pt"
DEFAULT_ENTRY = "fm-concrete-small"

# The embedded default: synthetic images -> MAE "small". Sized to build in a few minutes on
# two CPU cores (480 steps of 64 images).
DEFAULT_BUILD: dict[str, Any] = dict(
    n_images=1000, synth_size=128, synth_seed=1000, epochs=30, batch_size=64, mask_ratio=0.75
)


class PretrainError(ValueError):
    """Pretraining cannot start or go on; the message says why and what to do."""


def build_mae(
    base: str,
    *,
    preset: str = "small",
    image_size: int | None = None,
    mask_ratio: float = 0.75,
    model_dir: str | os.PathLike | None = None,
    seed: int = 0,
):
    """``(ViTMAEForPreTraining, description)`` from scratch or from a checkpoint.

    ``base``: "scratch" (``preset`` sizes, ``image_size`` overrides), or a zoo name, directory
    or hub id: an MAE checkpoint continues as is (decoder included); a ViT checkpoint gives the
    encoder, with a new decoder.
    """
    from transformers import AutoConfig, ViTMAEForPreTraining

    torch.manual_seed(seed)
    if base == "scratch":
        if preset not in PRESETS:
            raise PretrainError(f"unknown preset {preset!r}: one of {', '.join(PRESETS)}")
        config = mae_config_from_vit(encoder_config(preset, image_size), preset, mask_ratio)
        return ViTMAEForPreTraining(config), f"scratch ({preset})"

    source = resolve_source(base, model_dir)
    if source.kind == "random":
        vit_config, _ = build_config(source.entry)
        if getattr(vit_config, "model_type", "") != "vit":
            raise PretrainError(f"{base!r} is not a ViT: MAE pretraining needs a ViT backbone")
        config = mae_config_from_vit(vit_config, preset_for(vit_config), mask_ratio)
        return ViTMAEForPreTraining(config), f"{base} (random init)"

    location, extra = pretrained_location(source)
    try:
        if source.kind == "local" and (source.path / "mae" / "config.json").is_file():
            location, extra = str(source.path / "mae"), {}
        config = AutoConfig.from_pretrained(location, **extra)
        if config.model_type == "vit_mae":
            config.mask_ratio = float(mask_ratio)
            model = ViTMAEForPreTraining.from_pretrained(location, config=config, **extra)
        elif config.model_type == "vit":
            config = mae_config_from_vit(config, preset_for(config), mask_ratio)
            model = ViTMAEForPreTraining.from_pretrained(location, config=config, **extra)
        else:
            raise PretrainError(
                f"{base!r} is a {config.model_type} model: MAE pretraining continues from ViT or "
                "ViT-MAE checkpoints only (e.g. vit-mae-base, vit-base or an entry made by "
                "`pretrain`), or starts from scratch"
            )
    except OSError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PretrainError(
            f"cannot load {base!r} (tried {location}): {first}. Offline, place the checkpoint "
            f"under MODEL_DIR/zoo/{source.name}/ or use --from scratch"
        ) from exc
    if image_size and int(image_size) != int(model.config.image_size):
        raise PretrainError(
            f"{base!r} takes {model.config.image_size} px images; drop --image-size "
            f"{image_size} (it only applies to --from scratch)"
        )
    return model, f"{base} ({location})"


# ------------------------------------------------------------------------------ images


def scan_images(folder: str | os.PathLike) -> tuple[list[Path], int]:
    """Image files under ``folder``, recursively (hidden ones ignored), and how many other
    files were skipped. Raises :class:`PretrainError` for a missing folder."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise PretrainError(f"image folder {root} does not exist or is not a folder")
    images: list[Path] = []
    other = 0
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file():
            if is_image_file(path):
                images.append(path)
            else:
                other += 1
    return images, other


def cache_side(image_size: int) -> int:
    """Images are kept at this side; training takes random ``image_size`` crops of them."""
    return int(round(image_size * 8 / 7))


def load_images(
    paths: Sequence[Path], side: int, progress: bool = True
) -> tuple[torch.Tensor, list[Path]]:
    """Decode ``paths`` as RGB, centre-crop to square and resize to ``side``: a uint8 tensor
    (N, 3, side, side) and the paths that could not be read (skipped)."""
    from tqdm.auto import tqdm

    arrays: list[np.ndarray] = []
    bad: list[Path] = []
    for path in tqdm(paths, desc="reading images", unit="img", disable=not progress):
        try:
            image = open_image(path)
            image = ImageOps.fit(image, (side, side), Image.Resampling.BICUBIC)
            arrays.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
            log.debug("cannot read %s: %s", path, exc)
            bad.append(path)
    if not arrays:
        return torch.zeros((0, 3, side, side), dtype=torch.uint8), bad
    return torch.from_numpy(np.stack(arrays)), bad


def _to_pixels(batch: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


def _augment(batch: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``size`` crops and flips of uint8 images; returns normalised floats."""
    n, _, h, w = batch.shape
    ys = torch.randint(0, h - size + 1, (n,), generator=generator)
    xs = torch.randint(0, w - size + 1, (n,), generator=generator)
    flips = torch.rand(n, 2, generator=generator) < 0.5
    out = []
    for i in range(n):
        crop = batch[i, :, ys[i] : ys[i] + size, xs[i] : xs[i] + size]
        if flips[i, 0]:
            crop = crop.flip(-1)
        if flips[i, 1]:
            crop = crop.flip(-2)
        out.append(crop)
    return _to_pixels(torch.stack(out))


def _center(batch: torch.Tensor, size: int) -> torch.Tensor:
    h, w = batch.shape[-2:]
    y, x = (h - size) // 2, (w - size) // 2
    return _to_pixels(batch[..., y : y + size, x : x + size])


# ------------------------------------------------------------------------------ previews


def reconstruct(model, pixels: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Masked forward pass on normalised ``pixels``: original, masked input and reconstruction
    as [0, 1] images (N, 3, H, W), plus the loss."""
    model.eval()
    n_patches = model.vit.embeddings.patch_embeddings.num_patches
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(pixels.shape[0], n_patches, generator=generator)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(pixel_values=pixels.to(device), noise=noise.to(device))
        pred = out.logits.cpu()
        if model.config.norm_pix_loss:  # predictions are per-patch normalised: undo with the
            target = model.patchify(pixels)  # statistics of the true patches (as in the paper)
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred = pred * (var + 1.0e-6) ** 0.5 + mean
        recon = model.unpatchify(pred)
        p = model.config.patch_size
        mask = out.mask.cpu().unsqueeze(-1).repeat(1, 1, p * p * 3)
        mask = model.unpatchify(mask)  # 1 where masked
    std = torch.tensor(STD).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)

    def show(x):
        return (x * std + mean).clamp(0, 1)

    original = show(pixels)
    return {
        "original": original,
        "masked": original * (1 - mask) + 0.5 * mask,
        "reconstruction": show(recon),
        "pasted": original * (1 - mask) + show(recon) * mask,
        "loss": out.loss.detach(),
    }


def save_preview(model, pixels: torch.Tensor, path: Path, seed: int = 0) -> Path:
    """A PNG grid, one row per image: original | masked | reconstruction | visible pasted."""
    parts = reconstruct(model, pixels, seed)
    columns = [parts["original"], parts["masked"], parts["reconstruction"], parts["pasted"]]
    rows = [torch.cat([c[i] for c in columns], dim=-1) for i in range(pixels.shape[0])]
    grid = torch.cat(rows, dim=-2)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(array)
    scale = max(1, 192 // pixels.shape[-1])
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))


# ------------------------------------------------------------------------------ training


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


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_out_name(name: str, allow_zoo: bool = False) -> str:
    if not _NAME.match(name or ""):
        raise PretrainError(
            f"--out {name!r} must be a plain name (letters, digits, '.', '_', '-'): it becomes "
            "the zoo entry MODEL_DIR/zoo/<name>/"
        )
    if name in ZOO and not allow_zoo:
        raise PretrainError(f"--out {name!r} is a built-in zoo name; choose another name")
    return name


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def export_entry(model, entry_dir: Path, info: dict[str, Any]) -> Path:
    """Write the zoo entry (see the module doc) atomically: a temporary folder, then rename."""
    from transformers import ViTModel

    entry_dir = Path(entry_dir)
    entry_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry_dir.with_name(f".{entry_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    encoder = ViTModel(vit_config_from_mae(model.config), add_pooling_layer=False)
    encoder.load_state_dict(model.vit.state_dict(), strict=True)
    encoder.save_pretrained(tmp, safe_serialization=True)
    processor = vit_processor(int(model.config.image_size))
    processor.save_pretrained(tmp)
    model.save_pretrained(tmp / "mae", safe_serialization=True)
    processor.save_pretrained(tmp / "mae")
    (tmp / ENTRY_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    old = entry_dir.with_name(f".{entry_dir.name}.old-{os.getpid()}")
    if entry_dir.exists():
        os.replace(entry_dir, old)
    os.replace(tmp, entry_dir)
    shutil.rmtree(old, ignore_errors=True)
    return entry_dir


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
    from tqdm.auto import tqdm

    started = time.perf_counter()
    model_dir = Path(model_dir or default_model_dir())
    name = check_out_name(config.out, allow_zoo=config.out == DEFAULT_ENTRY)
    work = model_dir / "pretrain" / name
    entry_dir = zoo_local_dir(model_dir, name)
    if not 0.0 < config.mask_ratio < 1.0:
        raise PretrainError(f"--mask-ratio must be between 0 and 1, got {config.mask_ratio}")
    if config.epochs < 1 or config.batch_size < 1:
        raise PretrainError("--epochs and --batch must be at least 1")

    paths, other = scan_images(images_dir)
    if not paths:
        raise PretrainError(
            f"no images under {images_dir} (looked for {', '.join(sorted({'.png', '.jpg', '.jpeg', '.tif', '.bmp', '.webp'}))}"
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
    pixels_u8, bad = load_images(paths, cache_side(size), progress=config.progress)
    skipped = len(bad) + other
    if bad:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(bad), bad[0])
    n = int(pixels_u8.shape[0])
    if n == 0:
        raise PretrainError(f"none of the {len(paths)} image files under {images_dir} is readable")

    batch = min(config.batch_size, n)
    steps_per_epoch = math.ceil(n / batch)
    total_steps = steps_per_epoch * config.epochs
    lr = config.lr or (1e-3 if config.base == "scratch" else 1e-4)
    settings = {
        "base": config.base,
        "preset": config.preset if config.base == "scratch" else None,
        "image_size": size,
        "mask_ratio": config.mask_ratio,
        "epochs": config.epochs,
        "batch_size": batch,
        "lr": lr,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "images": n,
    }

    device = resolve_device(config.device)
    model.to(device)
    decay = [p for nm, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for nm, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay}],
        lr=lr,
        betas=(0.9, 0.95),
        weight_decay=0.0,
    )
    warmup = int(round(config.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total_steps, warmup))

    work.mkdir(parents=True, exist_ok=True)
    ckpt_path = work / CHECKPOINT
    step, history = 0, []
    if config.restart:
        ckpt_path.unlink(missing_ok=True)
    elif ckpt_path.is_file():
        try:  # tensors and plain containers only: a planted pickle never runs
            state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise PretrainError(
                f"{ckpt_path} is not a checkpoint this program wrote (it holds objects other "
                "than tensors and plain values, which are never unpickled). Delete it, or add "
                "--restart to start over."
            ) from exc
        if state.get("settings") != settings:
            old = state.get("settings") or {}
            diff = ", ".join(
                f"{k} {old.get(k)!r} -> {v!r}" for k, v in settings.items() if old.get(k) != v
            )
            raise PretrainError(
                f"{ckpt_path} is from a run with other settings ({diff}). Re-run with the same "
                "options to resume it, or add --restart to start over."
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = int(state["step"]), list(state["history"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming %s at step %d of %d", name, step, total_steps)
    resumed_at = step

    def checkpoint() -> None:
        state = {
            "format": 1,
            "settings": settings,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "history": history,
            "torch_rng": torch.get_rng_state(),
        }
        write_atomic(ckpt_path, lambda tmp: torch.save(state, tmp))

    spread = torch.linspace(0, n - 1, min(4, n)).round().long()  # sorted folders: mix them
    preview_pixels = _center(pixels_u8[spread], size)
    previews: list[Path] = []
    n_patches = model.vit.embeddings.patch_embeddings.num_patches
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc=f"MAE {name}",
        unit="step",
        disable=not config.progress,
        file=sys.stderr,
    )
    last_loss = float("nan")
    try:
        while step < total_steps:
            epoch, first = divmod(step, steps_per_epoch)
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            )
            model.train()
            for i in range(first, steps_per_epoch):
                idx = order[i * batch : (i + 1) * batch]
                generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
                x = _augment(pixels_u8[idx], size, generator)
                noise = torch.rand(len(idx), n_patches, generator=generator)
                loss = model(pixel_values=x.to(device), noise=noise.to(device)).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                last_loss = loss.item()
                history.append({"step": step, "epoch": epoch + 1, "loss": last_loss})
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{last_loss:.4f}")
                if on_step is not None:
                    on_step(step, last_loss)
                if step % config.checkpoint_every == 0 and step % steps_per_epoch:
                    checkpoint()
            checkpoint()
            previews.append(
                save_preview(
                    model, preview_pixels, work / "previews" / f"epoch_{epoch + 1:03d}.png"
                )
            )
            model.train()
    except KeyboardInterrupt:
        checkpoint()
        bar.close()
        print(
            f"\ninterrupted at step {step}/{total_steps}; checkpoint saved to {ckpt_path}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        raise
    bar.close()

    final = save_preview(model, preview_pixels, work / "previews" / "final.png")
    epoch_losses = {}
    for h in history:
        epoch_losses.setdefault(h["epoch"], []).append(h["loss"])
    per_epoch = [{"epoch": e, "loss": float(np.mean(v))} for e, v in sorted(epoch_losses.items())]
    info = {
        "name": name,
        "kind": "mae-pretrained",
        "base": config.base,
        "base_description": base_text,
        "preset": settings["preset"],
        "source_images": n,
        "skipped_files": skipped,
        "images_dir": str(Path(images_dir).expanduser().resolve()),
        "epochs": config.epochs,
        "steps": total_steps,
        "mask_ratio": config.mask_ratio,
        "image_size": size,
        "batch_size": batch,
        "lr": lr,
        "seed": config.seed,
        "final_epoch_loss": per_epoch[-1]["loss"] if per_epoch else None,
        "epoch_losses": per_epoch,
        "parameters_encoder": int(sum(p.numel() for p in model.vit.parameters())),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "usage": "classifier backbone: load_classifier(name, labels); no masking at inference",
    }
    export_entry(model, entry_dir, info)
    shutil.copyfile(final, entry_dir / "reconstruction.png")
    ckpt_path.unlink(missing_ok=True)  # finished: the entry holds everything
    return PretrainResult(
        entry_dir=entry_dir,
        work_dir=work,
        images=n,
        skipped=skipped,
        steps=step,
        epochs=config.epochs,
        final_loss=info["final_epoch_loss"] or last_loss,
        seconds=time.perf_counter() - started,
        resumed_at_step=resumed_at,
        history=per_epoch,
        previews=previews + [final],
    )


# ------------------------------------------------------------------------------ the default


def build_default(
    entry_dir: Path, build: dict[str, Any] | None = None, progress: bool = True
) -> Path:
    """Build the embedded default entry into ``entry_dir`` (= MODEL_DIR/zoo/<name>/): synthetic
    concrete images, then MAE from scratch ("small"). Resumable like any pretraining run."""
    from model_zoo.data.synth import generate_dataset

    spec = {**DEFAULT_BUILD, **(build or {})}
    entry_dir = Path(entry_dir)
    name = entry_dir.name
    model_dir = entry_dir.parent.parent
    images = model_dir / "pretrain" / name / "synth"
    print(
        f"building zoo entry {name!r} (first use): MAE-pretraining a small ViT on "
        f"{spec['n_images']} synthetic concrete images, a few minutes on a CPU; cached in "
        f"{entry_dir}",
        file=sys.stderr,
    )
    manifest = images / "manifest.json"
    complete = manifest.is_file() and json.loads(manifest.read_text()).get("complete")
    if not complete or json.loads(manifest.read_text()).get("n") != spec["n_images"]:
        generate_dataset(
            images,
            n=spec["n_images"],
            size=spec["synth_size"],
            seed=spec["synth_seed"],
            progress=progress,
        )
    pretrain(
        images / "images",
        PretrainConfig(
            out=name,
            base="scratch",
            preset=spec.get("preset", "small"),
            epochs=spec["epochs"],
            batch_size=spec["batch_size"],
            mask_ratio=spec["mask_ratio"],
            progress=progress,
        ),
        model_dir=model_dir,
    )
    info_path = entry_dir / ENTRY_FILE
    info = json.loads(info_path.read_text())
    info["images_dir"] = (
        f"synthetic: model_zoo.data.synth generate_dataset(n={spec['n_images']}, "
        f"size={spec['synth_size']}, seed={spec['synth_seed']}), deleted after the build"
    )
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(model_dir / "pretrain" / name, ignore_errors=True)
    return entry_dir


# ------------------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--images", help="folder of unlabeled images (searched recursively)")
    what.add_argument(
        "--project",
        help="Label Studio project id: export its images first with "
        "`python -m ml_backend export-images --project ID --out DIR`, then use --images DIR",
    )
    what.add_argument(
        "--default",
        action="store_true",
        help=f"build the embedded default {DEFAULT_ENTRY!r} now (otherwise built on first use)",
    )
    parser.add_argument(
        "--from",
        dest="base",
        default="scratch",
        help="'scratch' (default) or the checkpoint to continue: zoo name, directory or hub id",
    )
    parser.add_argument("--out", help="name of the new zoo entry (MODEL_DIR/zoo/<out>/)")
    parser.add_argument(
        "--preset", default="small", choices=sorted(PRESETS), help="architecture for --from scratch"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument(
        "--image-size", type=int, default=None, help="input side (--from scratch only)"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak learning rate (default 1e-3 scratch, 1e-4 continuing)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, help="steps between checkpoints"
    )
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--model-dir",
        default=None,
        help="where zoo entries live (default: $MODEL_DIR or ./data/models)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    model_dir = Path(args.model_dir or default_model_dir())
    try:
        if args.project is not None:
            raise PretrainError(
                "model_zoo does not talk to Label Studio. Export the project's images first, "
                f"then pretrain on the folder:\n  python -m ml_backend export-images --project "
                f"{args.project} --out data/project-{args.project}\n  python -m model_zoo pretrain "
                f"--images data/project-{args.project} --out <name>"
            )
        if args.default:
            entry = zoo_local_dir(model_dir, DEFAULT_ENTRY)
            if (entry / "config.json").is_file() and not args.restart:
                print(f"{DEFAULT_ENTRY} is already built in {entry} (--restart rebuilds it)")
                return 0
            if args.restart:
                shutil.rmtree(model_dir / "pretrain" / DEFAULT_ENTRY, ignore_errors=True)
            build_default(entry, progress=not args.quiet)
            print(f"built {DEFAULT_ENTRY} in {entry}")
            return 0
        if not args.out:
            raise PretrainError("--out NAME is required: the name of the new zoo entry")
        check_out_name(args.out)
        entry = zoo_local_dir(model_dir, args.out)
        work_ckpt = model_dir / "pretrain" / args.out / CHECKPOINT
        if (entry / ENTRY_FILE).is_file() and not work_ckpt.is_file() and not args.restart:
            raise PretrainError(
                f"zoo entry {args.out!r} already exists in {entry}; add --restart to train it "
                "again, or choose another --out"
            )
        result = pretrain(
            args.images,
            PretrainConfig(
                out=args.out,
                base=args.base,
                preset=args.preset,
                epochs=args.epochs,
                mask_ratio=args.mask_ratio,
                image_size=args.image_size,
                batch_size=args.batch,
                lr=args.lr,
                seed=args.seed,
                checkpoint_every=max(1, args.checkpoint_every),
                progress=not args.quiet,
                restart=args.restart,
                device=args.device,
            ),
            model_dir=model_dir,
        )
    except KeyboardInterrupt:
        return 130
    except (PretrainError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"pretrain: error: {message}", file=sys.stderr)
        return 2
    resumed = f", resumed at step {result.resumed_at_step}" if result.resumed_at_step else ""
    print(
        f"pretrained {args.out} on {result.images} images ({result.skipped} skipped) for "
        f"{result.epochs} epochs / {result.steps} steps in {result.seconds:.0f} s{resumed}; "
        f"final reconstruction loss {result.final_loss:.4f}"
    )
    print(
        f"zoo entry: {result.entry_dir}  (use it by name: --model {args.out}, CLASSIFIER_MODEL={args.out} with MODEL_DIR={model_dir})"
    )
    print(f"previews:  {result.previews[-1]} and {result.entry_dir / 'reconstruction.png'}")
    return 0


__all__ = [
    "DEFAULT_ENTRY",
    "PRESETS",
    "PretrainConfig",
    "PretrainError",
    "PretrainResult",
    "build_default",
    "build_mae",
    "encoder_config",
    "export_entry",
    "pretrain",
    "scan_images",
    "vit_config_from_mae",
]
