"""Choosing the torch device from the ``DEVICE`` setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

CUDA is never touched at import time: resolving ``auto`` only happens when a model is first
used, which under gunicorn is after the worker has forked (CUDA does not survive a fork).
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def resolve_device(setting: str | None = "auto") -> torch.device:
    text = (setting or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"DEVICE={setting!r} but no CUDA device is visible to torch "
                f"(torch {torch.__version__}). Use DEVICE=cpu or DEVICE=auto."
            )
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"DEVICE={setting!r} but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
        return device
    raise ValueError(f"DEVICE must be auto, cpu, cuda or cuda:N, not {setting!r}")


def place(model: torch.nn.Module, setting: str | None, what: str) -> torch.device:
    """Move ``model`` to the device ``setting`` names, in eval mode; for lazy first-use moves."""
    device = resolve_device(setting)
    model.to(device)
    model.eval()
    log.info("%s on %s", what, device)
    return device
