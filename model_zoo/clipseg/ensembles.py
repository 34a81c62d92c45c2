"""Foreground/background masks from ensembles of CLIPSeg text prompts, with an uncertainty map.

An ensemble is a list of foreground prompts and a list of background prompts (paper 3.3,
Figure 6). ``ENSEMBLES`` holds the paper's presets:

* ``E1``: foreground ["concrete"], background ["water", "sky"]
* ``E2``: foreground ["concrete"], background ["water", "sky", "forest"]
* ``E3``: foreground ["concrete"], background ["water", "sky", "forest", "gravel",
  "natural stone wall"]

How members combine (``combine=``), per pixel, from the CLIPSeg logits ``l_k`` of the K prompts:

* ``"softmax"`` (default): the prompts compete in one softmax; the foreground probability is the
  softmax mass of the foreground prompts, ``p = sum_{k in fg} softmax(l)_k``, i.e.
  ``p = sigmoid(d)`` with the ensemble logit ``d = logsumexp(l_fg) - logsumexp(l_bg)``. A pixel
  is background as soon as *one* background prompt fires strongly, which suits the paper's
  complementary background prompts (water *or* sky *or* forest); correlated foreground prompts
  ("concrete", "bridge", "pillar") reinforce each other.
* ``"mean"``: ``d = mean(l_fg) - mean(l_bg)``; every member counts equally, so one silent
  background prompt dilutes the others.

The decision: foreground where ``p >= 0.5`` (``d >= 0``), background elsewhere; the two masks
partition the image.

The uncertainty map (``uncertainty=``), in [0, 1]:

* ``"entropy"`` (default): the binary entropy of ``p`` in bits. 1 where the ensemble cannot
  decide (competing fore- and background prompts, boundaries), 0 where it is sure.
* ``"disagreement"``: every (foreground prompt, background prompt) pair votes by comparing its
  two logits; ``1 - |2 v - 1|`` where ``v`` is the share of pairs voting foreground: 0 when the
  pairs agree, 1 when they split evenly. A one-pair ensemble never disagrees.

Both are computed at the model's resolution; the ensemble logit ``d`` (and the disagreement map)
is upsampled bilinearly to the original image size, and ``p``, the decision and the entropy are
taken from the upsampled ``d``. So the cost is O(H x W) per image, not O(K x H x W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model_zoo.clipseg.model import ClipSeg, PromptError, clean_prompts, prompts_digest

COMBINE_RULES = ("softmax", "mean")
UNCERTAINTY_KINDS = ("entropy", "disagreement")


@dataclass(frozen=True)
class Ensemble:
    foreground: tuple[str, ...]
    background: tuple[str, ...]
    name: str = ""

    @classmethod
    def of(cls, foreground: Sequence[str], background: Sequence[str], name: str = "") -> Ensemble:
        """A checked ensemble: prompts stripped and deduplicated, both lists non-empty, disjoint."""
        fg = clean_prompts(foreground, "foreground prompts")
        bg = clean_prompts(background, "background prompts")
        both = sorted(set(fg) & set(bg))
        if both:
            raise PromptError(f"prompts {both} are both foreground and background prompts")
        return cls(tuple(fg), tuple(bg), name)

    @property
    def prompts(self) -> tuple[str, ...]:
        return self.foreground + self.background

    @property
    def label(self) -> str:
        """The preset's name when the prompts equal a preset, else ``prompts-<digest>``."""
        for name, preset in ENSEMBLES.items():
            if (preset.foreground, preset.background) == (self.foreground, self.background):
                return name
        return self.name or f"prompts-{prompts_digest(self.prompts)}"


ENSEMBLES: dict[str, Ensemble] = {
    "E1": Ensemble(("concrete",), ("water", "sky"), "E1"),
    "E2": Ensemble(("concrete",), ("water", "sky", "forest"), "E2"),
    "E3": Ensemble(("concrete",), ("water", "sky", "forest", "gravel", "natural stone wall"), "E3"),
}


def get_ensemble(name: str) -> Ensemble:
    try:
        return ENSEMBLES[name.strip().upper()]
    except KeyError:
        raise KeyError(
            f"unknown ensemble {name!r}: presets are {', '.join(ENSEMBLES)} (or give prompts)"
        ) from None


def split_prompts(text: str | None) -> list[str]:
    """``"concrete; bridge ;pillar"`` -> ``["concrete", "bridge", "pillar"]`` (``;`` separates)."""
    return [p.strip() for p in str(text or "").split(";") if p.strip()]


@dataclass
class ForegroundResult:
    """One image: ``probability`` (H, W) float32 of foreground, ``foreground`` (H, W) bool
    decision, ``uncertainty`` (H, W) float32 in [0, 1]; all at the original image size."""

    probability: np.ndarray
    foreground: np.ndarray
    uncertainty: np.ndarray

    @property
    def background(self) -> np.ndarray:
        return ~self.foreground


def ensemble_logit(logits: torch.Tensor, n_fg: int, combine: str = "softmax") -> torch.Tensor:
    """The ensemble logit ``d`` (..., h, w) from member logits (..., K, h, w); fg members first."""
    fg, bg = logits[..., :n_fg, :, :], logits[..., n_fg:, :, :]
    if fg.shape[-3] == 0 or bg.shape[-3] == 0:
        raise PromptError("an ensemble needs at least one foreground and one background prompt")
    if combine == "softmax":
        return torch.logsumexp(fg, dim=-3) - torch.logsumexp(bg, dim=-3)
    if combine == "mean":
        return fg.mean(dim=-3) - bg.mean(dim=-3)
    raise ValueError(f"unknown combine rule {combine!r}; use one of {COMBINE_RULES}")


def disagreement(logits: torch.Tensor, n_fg: int) -> torch.Tensor:
    """Share of (fg, bg) prompt pairs that vote against the majority, scaled to [0, 1]."""
    fg, bg = logits[..., :n_fg, :, :], logits[..., n_fg:, :, :]
    votes = (fg.unsqueeze(-3) > bg.unsqueeze(-4)).float()  # (..., n_fg, n_bg, h, w)
    share = votes.mean(dim=(-4, -3))
    return 1.0 - (2.0 * share - 1.0).abs()


def binary_entropy(d: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of ``sigmoid(d)``, computed stably from the logit."""
    # H = softplus(-|d|) + |d| * sigmoid(-|d|)  (nats), then / ln 2
    a = d.abs()
    return (F.softplus(-a) + a * torch.sigmoid(-a)) / math.log(2.0)


def combine_logits(
    logits: np.ndarray | torch.Tensor,
    n_fg: int,
    size: tuple[int, int],
    combine: str = "softmax",
    uncertainty: str = "entropy",
) -> ForegroundResult:
    """Member logits (K, h, w) of one image -> :class:`ForegroundResult` at ``size`` (H, W)."""
    if uncertainty not in UNCERTAINTY_KINDS:
        raise ValueError(f"unknown uncertainty {uncertainty!r}; use one of {UNCERTAINTY_KINDS}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"the output size must be positive, not {size}")
    member = torch.as_tensor(np.asarray(logits), dtype=torch.float32)
    if member.ndim != 3:
        raise ValueError(f"member logits must be (K, h, w), got shape {tuple(member.shape)}")
    maps = [ensemble_logit(member, n_fg, combine)]
    if uncertainty == "disagreement":
        maps.append(disagreement(member, n_fg))
    stacked = torch.stack(maps).unsqueeze(0)  # (1, M, h, w)
    up = F.interpolate(stacked, size=(height, width), mode="bilinear", align_corners=False)[0]
    d = up[0]
    unc = binary_entropy(d) if uncertainty == "entropy" else up[1]
    return ForegroundResult(
        probability=torch.sigmoid(d).numpy().astype(np.float32),
        foreground=(d >= 0).numpy(),
        uncertainty=unc.clamp(0.0, 1.0).numpy().astype(np.float32),
    )


def segment_foreground(
    model: ClipSeg,
    images: Sequence,
    ensemble: Ensemble,
    *,
    combine: str = "softmax",
    uncertainty: str = "entropy",
    batch_size: int = 8,
) -> list[ForegroundResult]:
    """Foreground/background + uncertainty for each image, at its original size.

    Each image is encoded once for all the ensemble's prompts; prompt embeddings are cached.
    """
    if combine not in COMBINE_RULES:
        raise ValueError(f"unknown combine rule {combine!r}; use one of {COMBINE_RULES}")
    if uncertainty not in UNCERTAINTY_KINDS:
        raise ValueError(f"unknown uncertainty {uncertainty!r}; use one of {UNCERTAINTY_KINDS}")
    images = list(images)
    logits = model.prompt_logits(images, ensemble.prompts, batch_size=batch_size)
    out = []
    for image, member in zip(images, logits, strict=True):
        height, width = _size(image)
        out.append(
            combine_logits(member, len(ensemble.foreground), (height, width), combine, uncertainty)
        )
    return out


def _size(image) -> tuple[int, int]:
    """(height, width) of a PIL image or an array."""
    if isinstance(image, np.ndarray):
        return int(image.shape[0]), int(image.shape[1])
    return int(image.height), int(image.width)
