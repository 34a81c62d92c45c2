"""The resumable state of a pretraining run: model, optimiser, schedule, step and history,
written atomically to ``MODEL_DIR/pretrain/<out>/checkpoint.pt``."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model_zoo.pretrain.errors import PretrainError
from model_zoo.storage.atomic import write_atomic

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainState:
    """What a checkpoint holds; ``settings`` must match for a run to resume it."""

    path: Path
    settings: dict[str, Any]
    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def save(self) -> None:
        state = {
            "format": 1,
            "settings": self.settings,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
        }
        write_atomic(self.path, lambda tmp: torch.save(state, tmp))

    def resume(self) -> None:
        """Load the checkpoint at ``path`` if there is one; refuse one of other settings."""
        if not self.path.is_file():
            return
        try:  # tensors and plain containers only: a planted pickle never runs
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise PretrainError(
                f"{self.path} is not a checkpoint this program wrote (it holds objects other "
                "than tensors and plain values, which are never unpickled). Delete it, or add "
                "--restart to start over."
            ) from exc
        if state.get("settings") != self.settings:
            old = state.get("settings") or {}
            diff = ", ".join(
                f"{k} {old.get(k)!r} -> {v!r}" for k, v in self.settings.items() if old.get(k) != v
            )
            raise PretrainError(
                f"{self.path} is from a run with other settings ({diff}). Re-run with the same "
                "options to resume it, or add --restart to start over."
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.history = int(state["step"]), list(state["history"])
        torch.set_rng_state(state["torch_rng"])
