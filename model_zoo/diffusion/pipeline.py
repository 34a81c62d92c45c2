"""Loading a Stable-Diffusion-family text-to-image pipeline from a hub id or a local directory.

A local directory must be a diffusers pipeline (``model_index.json`` naming a text-to-image
pipeline class, as ``save_pretrained`` writes it); anything else is refused with a message that
says what was expected. Hub ids go through ``AutoPipelineForText2Image`` (Stable Diffusion 1.x,
2.x and SDXL checkpoints). On CUDA the weights load in float16 unless told otherwise.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from model_zoo.device import resolve_device

log = logging.getLogger(__name__)

PIPELINE_HELP = (
    "expected a diffusers text-to-image pipeline: a hub id such as "
    "stable-diffusion-v1-5/stable-diffusion-v1-5 or a directory written by "
    "pipeline.save_pretrained (model_index.json, unet/, vae/, text_encoder/, tokenizer/, "
    "scheduler/); `python -m model_zoo.diffusion.tiny DIR` writes a tiny random one for tests"
)


class DiffusionError(ValueError):
    """Bad input to the diffusion workflow (the message says what and how to fix it)."""


def _check_pipeline_dir(path: Path) -> str:
    """The pipeline class named by ``path/model_index.json``; raises when it is not one."""
    index = path / "model_index.json"
    if not index.is_file():
        raise DiffusionError(
            f"{path} is not a diffusion pipeline (no model_index.json); {PIPELINE_HELP}"
        )
    try:
        info = json.loads(index.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DiffusionError(f"{index} is not readable JSON ({exc}); {PIPELINE_HELP}") from None
    name = str(info.get("_class_name", ""))
    missing = [part for part in ("unet", "vae", "text_encoder", "tokenizer") if part not in info]
    if not name or missing:
        raise DiffusionError(
            f"{path} is not a text-to-image diffusion pipeline (class {name or '?'}, "
            f"missing {', '.join(missing) or 'nothing'}); {PIPELINE_HELP}"
        )
    return name


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    """``auto`` is float16 on CUDA and float32 elsewhere; ``fp16``/``bf16``/``fp32`` as named."""
    table = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if setting == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if setting not in table:
        raise DiffusionError(f"--dtype must be auto, fp16, bf16 or fp32, not {setting!r}")
    return table[setting]


def load_pipeline(
    model: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    lora: str | Path | None = None,
    progress: bool = False,
):
    """The text-to-image pipeline ``model`` (hub id or directory) on ``device``, with the LoRA
    weights of ``lora`` (a directory written by ``finetune-diffusion``) loaded when given."""
    from diffusers import AutoPipelineForText2Image

    if not str(model or "").strip():
        raise DiffusionError(f"--model is empty; {PIPELINE_HELP}")
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DiffusionError(f"{path} is a file, not a pipeline directory; {PIPELINE_HELP}")
        _check_pipeline_dir(path)
        location = str(path)
    else:
        location = str(model)
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(location, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise DiffusionError(
            f"cannot load the diffusion pipeline {model!r}: {exc}. "
            f"Hub ids need network (or the hub cache); {PIPELINE_HELP}"
        ) from exc
    if lora is not None:
        load_lora(pipe, lora)
    pipe.to(torch_device)
    pipe.set_progress_bar_config(disable=not progress)
    log.info("diffusion pipeline %s on %s (%s)", model, torch_device, torch_dtype)
    return pipe


def load_lora(pipe, lora: str | Path) -> None:
    """Load LoRA weights (``pytorch_lora_weights.safetensors``) into ``pipe``'s UNet."""
    path = Path(lora).expanduser()
    weights = path / "pytorch_lora_weights.safetensors"
    if not weights.is_file():
        raise DiffusionError(
            f"--lora {path} has no pytorch_lora_weights.safetensors "
            "(write one with `python -m model_zoo finetune-diffusion`)"
        )
    pipe.load_lora_weights(str(path), weight_name=weights.name)


def pipeline_name(model: str) -> str:
    """How the manifest names a model: the resolved directory, or the hub id as given."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)
