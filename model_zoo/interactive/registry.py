"""Mask sources by name (a plain dict) and the choice of the default one.

``SOURCES[name](cache=..., **options)`` builds a source; options a builder does not use are
ignored, so callers can pass the same settings to every entry. ``"sam"`` needs a Segment
Anything checkpoint (``sam_checkpoint``, ``sam_model_type``); ``"fallback"`` needs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.fallback import FallbackSource
from model_zoo.interactive.sam_source import SamSource
from model_zoo.interactive.source import MaskSource
from model_zoo.sam.refiner import load_sam, sam_note


def build_sam(
    cache: ByteLRU,
    sam_checkpoint: str | None = None,
    sam_model_type: str = "vit_b",
    device: str = "cpu",
    **_ignored,
) -> SamSource:
    refiner = load_sam(sam_checkpoint or "", sam_model_type, device)  # raises with a clear note
    return SamSource(refiner.predictor.model, name=f"sam-{sam_model_type}", cache=cache)


def build_fallback(cache: ByteLRU, fallback_side: int = 512, **_ignored) -> FallbackSource:
    return FallbackSource(side=fallback_side, cache=cache)


SOURCES: dict[str, Callable[..., MaskSource]] = {
    "sam": build_sam,
    "fallback": build_fallback,
}


def default_source(sam_checkpoint: str | None, sam_model_type: str = "vit_b") -> str:
    """``"sam"`` when a usable checkpoint is configured, else ``"fallback"``."""
    return "sam" if sam_note(sam_checkpoint, sam_model_type) is None else "fallback"


def build_source(name: str, cache_bytes: int, **options) -> MaskSource:
    if name not in SOURCES:
        raise ValueError(f"unknown interactive mask source {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name](cache=ByteLRU(cache_bytes), **options)
