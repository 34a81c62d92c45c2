"""Losses for thin structures, from segmentation-models-pytorch: a plain dict of builders.

Both add a pixel-wise BCE (stable gradients from the start) to a region overlap loss that does
not drown a thin crack in background pixels: Dice, or Tversky weighting misses (false
negatives) above false alarms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from segmentation_models_pytorch import losses as smp_losses
from torch import nn


class SumOfLosses(nn.Module):
    def __init__(self, *parts: nn.Module) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(part(logits, target) for part in self.parts)


def _dice_bce() -> nn.Module:
    return SumOfLosses(
        smp_losses.DiceLoss(mode="multilabel", from_logits=True),
        smp_losses.SoftBCEWithLogitsLoss(),
    )


def _tversky_bce() -> nn.Module:
    return SumOfLosses(
        smp_losses.TverskyLoss(mode="multilabel", from_logits=True, alpha=0.3, beta=0.7),
        smp_losses.SoftBCEWithLogitsLoss(),
    )


LOSSES: dict[str, Callable[[], nn.Module]] = {"dice_bce": _dice_bce, "tversky_bce": _tversky_bce}


def build_loss(name: str) -> nn.Module:
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(
            f"unknown segmentation loss {name!r}; known: {', '.join(LOSSES)}"
        ) from None
