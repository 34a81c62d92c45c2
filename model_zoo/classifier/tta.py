"""Test-time augmentation: class probabilities averaged over flipped copies of each image.

Inspection photos have no up or left, so a flipped tile is as valid as the original. Each
extra view costs one more forward pass (``views=2`` doubles the prediction time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

_FLIPS = ((), (-1,), (-2,))  # none, horizontal, vertical


def predict_proba_tta(
    classifier, images: Sequence[Image.Image], views: int = 1, batch_size: int = 16
) -> np.ndarray:
    """``classifier.predict_proba`` averaged over ``views`` (1-3) flips of each image."""
    if views <= 1 or not images:
        return classifier.predict_proba(list(images), batch_size=batch_size)
    chunks = []
    for start in range(0, len(images), max(1, batch_size)):
        pixels = classifier.preprocess(images[start : start + batch_size])
        probs = [
            classifier.probabilities(classifier.logits(pixels.flip(dims) if dims else pixels))
            for dims in _FLIPS[: min(views, len(_FLIPS))]
        ]
        chunks.append(np.mean(probs, axis=0))
    return np.concatenate(chunks, axis=0)
