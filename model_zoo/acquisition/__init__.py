"""Acquisition strategies for active learning: which unlabeled sample to label next.

``STRATEGIES`` maps a name to a strategy class; ``get_strategy(spec)`` builds one from a name or
a combination: ``"discriminator*dal"`` (product of rank-normalised scores) or
``"discriminator+coreset"`` (mean). Scores: higher = label sooner. See
:mod:`model_zoo.acquisition.base` for the context a strategy reads, and
:mod:`model_zoo.acquisition.diversity` for batch-diverse ordering.
"""

from __future__ import annotations

from model_zoo.acquisition.bald import Bald
from model_zoo.acquisition.base import AcquisitionContext, AcquisitionError, Strategy
from model_zoo.acquisition.combine import Combined
from model_zoo.acquisition.coreset import CoreSet
from model_zoo.acquisition.dal import Dal
from model_zoo.acquisition.discriminator import Discriminator
from model_zoo.acquisition.diversity import acquisition_order, diverse_top_k, rank_pool
from model_zoo.acquisition.entropy import Entropy
from model_zoo.acquisition.least_confidence import LeastConfidence
from model_zoo.acquisition.margin import Margin
from model_zoo.acquisition.random import RandomStrategy
from model_zoo.acquisition.split import MinoritySplit
from model_zoo.acquisition.typiclust import TypiClust

STRATEGIES: dict[str, type[Strategy]] = {
    "discriminator": Discriminator,
    "random": RandomStrategy,
    "least-confidence": LeastConfidence,
    "margin": Margin,
    "entropy": Entropy,
    "bald": Bald,
    "coreset": CoreSet,
    "dal": Dal,
    "typiclust": TypiClust,
    "minority-split": MinoritySplit,
}

#: named combinations
PRESETS: dict[str, str] = {
    "minority-representative": "discriminator*dal",
    "minority-diverse": "discriminator*coreset",
}


def get_strategy(spec: str) -> Strategy:
    """A strategy from a name (``STRATEGIES``/``PRESETS``) or a ``*``/``+`` combination of names."""
    text = PRESETS.get(str(spec).strip().lower(), str(spec).strip().lower())
    if not text:
        raise AcquisitionError("empty acquisition strategy name")
    for joiner, mode in (("*", "product"), ("+", "sum")):
        if joiner in text:
            return Combined([get_strategy(part) for part in text.split(joiner)], mode=mode)
    cls = STRATEGIES.get(text.replace("_", "-"))
    if cls is None:
        raise AcquisitionError(
            f"unknown acquisition strategy {spec!r}; choose one of "
            f"{', '.join([*STRATEGIES, *PRESETS])}, or combine names with '*' or '+'"
        )
    return cls()


__all__ = [
    "PRESETS",
    "STRATEGIES",
    "AcquisitionContext",
    "AcquisitionError",
    "Strategy",
    "acquisition_order",
    "diverse_top_k",
    "get_strategy",
    "rank_pool",
]
