"""Losses for thin, rare foreground, from segmentation-models-pytorch: a plain dict of builders.

Each adds a pixel-wise BCE (stable gradients from the start) to a region or ranking loss that
does not drown a crack of 2 % of the pixels in background: Dice, Tversky (misses weigh more
than false alarms), Focal (the easy background pixels weigh little) or Lovasz (a surrogate of
the IoU itself). Targets may hold an ``ignore`` value (pixels that do not count: the uncertain
band of a pseudo-mask, the padding of a small image).
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


class MaskedBCE(nn.Module):
    """BCE with logits over the pixels that are not ``ignore`` (soft targets allowed)."""

    def __init__(self, ignore: float | None = None) -> None:
        super().__init__()
        self.ignore = ignore

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.ignore is None:
            return nn.functional.binary_cross_entropy_with_logits(logits, target)
        keep = target != self.ignore
        if not keep.any():
            return logits.sum() * 0.0
        return nn.functional.binary_cross_entropy_with_logits(logits[keep], target[keep])


class MaskedLovasz(nn.Module):
    """smp's Lovasz hinge per image and label, ignored pixels left out (hard targets)."""

    def __init__(self, ignore: float | None = None) -> None:
        super().__init__()
        self.ignore = ignore
        self.loss = smp_losses.LovaszLoss(mode="binary", per_image=True, ignore_index=ignore)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        hard = (target >= 0.5).float()
        if self.ignore is not None:
            hard = torch.where(target == self.ignore, target, hard)
        n, labels = logits.shape[:2]
        return self.loss(logits.reshape(n * labels, 1, *logits.shape[2:]),
                         hard.reshape(n * labels, 1, *hard.shape[2:]))  # fmt: skip


def _dice_bce(ignore) -> nn.Module:
    return SumOfLosses(
        smp_losses.DiceLoss(mode="multilabel", from_logits=True, ignore_index=ignore),
        MaskedBCE(ignore),
    )


def _tversky_bce(ignore) -> nn.Module:
    return SumOfLosses(
        smp_losses.TverskyLoss(
            mode="multilabel", from_logits=True, alpha=0.3, beta=0.7, ignore_index=ignore
        ),
        MaskedBCE(ignore),
    )


def _focal_dice(ignore) -> nn.Module:
    return SumOfLosses(
        smp_losses.DiceLoss(mode="multilabel", from_logits=True, ignore_index=ignore),
        smp_losses.FocalLoss(mode="multilabel", ignore_index=ignore),
    )


def _lovasz_bce(ignore) -> nn.Module:
    return SumOfLosses(MaskedLovasz(ignore), MaskedBCE(ignore))


LOSSES: dict[str, Callable[[float | None], nn.Module]] = {
    "dice_bce": _dice_bce,
    "tversky_bce": _tversky_bce,
    "focal_dice": _focal_dice,
    "lovasz_bce": _lovasz_bce,
}


def build_loss(name: str, ignore: float | None = None) -> nn.Module:
    """The loss ``name``; ``ignore``: the target value of pixels that do not count."""
    try:
        builder = LOSSES[name]
    except KeyError:
        raise ValueError(
            f"unknown segmentation loss {name!r}; known: {', '.join(LOSSES)}"
        ) from None
    return builder(ignore)
