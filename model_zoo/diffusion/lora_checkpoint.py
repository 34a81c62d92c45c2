"""Resumable LoRA checkpoints, safetensors and JSON only (no pickles).

``OUT/checkpoint/``: ``lora.safetensors`` (the UNet's LoRA weights, peft names),
``optimizer.safetensors`` (AdamW moments, flattened ``<param>.<name>`` keys) and ``state.json``
(step, settings, loss history, optimizer hyper-parameters). Written to a temporary folder and
renamed into place, so an interruption leaves the previous checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from model_zoo.storage.atomic import write_dir_atomic

CHECKPOINT = "checkpoint"


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{index}.{name}"] = tensor.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    out: Path,
    lora_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    info: dict[str, Any],
) -> Path:
    def write(tmp: Path) -> None:
        lora = {k: v.detach().cpu().contiguous() for k, v in lora_state.items()}
        save_file(lora, tmp / "lora.safetensors")
        tensors, groups = _flatten_optimizer(optimizer)
        save_file(tensors, tmp / "optimizer.safetensors")
        state = {**info, "param_groups": groups}
        (tmp / "state.json").write_text(json.dumps(state, indent=1) + "\n")

    return write_dir_atomic(Path(out) / CHECKPOINT, write)


def read_checkpoint_info(out: Path) -> dict[str, Any] | None:
    path = Path(out) / CHECKPOINT / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_checkpoint(out: Path, optimizer: torch.optim.Optimizer) -> tuple[dict, dict[str, Any]]:
    """(LoRA weights, info) of the checkpoint; the optimizer state is loaded in place."""
    folder = Path(out) / CHECKPOINT
    info = json.loads((folder / "state.json").read_text())
    tensors = load_file(folder / "optimizer.safetensors")
    optimizer.load_state_dict(_unflatten_optimizer(tensors, info.pop("param_groups")))
    return load_file(folder / "lora.safetensors"), info
