"""The MAE to pretrain: from scratch (a preset), a random zoo architecture or a checkpoint."""

from __future__ import annotations

import os

import torch

from model_zoo.loading import build_config, pretrained_location, resolve_source
from model_zoo.pretrain.configs import PRESETS, encoder_config, mae_config_from_vit, preset_for
from model_zoo.pretrain.errors import PretrainError


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
    from transformers import ViTMAEForPreTraining

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

    model, location = _from_checkpoint(base, source, mask_ratio)
    if image_size and int(image_size) != int(model.config.image_size):
        raise PretrainError(
            f"{base!r} takes {model.config.image_size} px images; drop --image-size "
            f"{image_size} (it only applies to --from scratch)"
        )
    return model, f"{base} ({location})"


def _from_checkpoint(base: str, source, mask_ratio: float):
    """``(model, location)``: an MAE continued as is, or a ViT encoder with a new decoder."""
    from transformers import AutoConfig, ViTMAEForPreTraining

    location, extra = pretrained_location(source)
    try:
        if source.kind == "local" and (source.path / "mae" / "config.json").is_file():
            location, extra = str(source.path / "mae"), {}
        config = AutoConfig.from_pretrained(location, **extra)
        if config.model_type == "vit_mae":
            config.mask_ratio = float(mask_ratio)
        elif config.model_type == "vit":
            config = mae_config_from_vit(config, preset_for(config), mask_ratio)
        else:
            raise PretrainError(
                f"{base!r} is a {config.model_type} model: MAE pretraining continues from ViT or "
                "ViT-MAE checkpoints only (e.g. vit-mae-base, vit-base or an entry made by "
                "`pretrain`), or starts from scratch"
            )
        return ViTMAEForPreTraining.from_pretrained(location, config=config, **extra), location
    except OSError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PretrainError(
            f"cannot load {base!r} (tried {location}): {first}. Offline, place the checkpoint "
            f"under MODEL_DIR/zoo/{source.name}/ or use --from scratch"
        ) from exc
