"""The offline mask source: superpixels for blobs, the ridge map for cracks (no weights).

``shape="ridge"`` or ``"blob"`` picks the decoder; without a hint each prompt group picks for
itself: ridge when the ridge response under its first positive click (within 2 px) is at least
``RIDGE_RATIO`` x the image's median response (a dark line), blob otherwise. On synthetic images
clicks on cracks gave 11-23 x, clicks inside spalling, rust, efflorescence and algae 0-8 x. The per-image
features (:mod:`model_zoo.interactive.image_features`) are cached, so later clicks on the same
image pay only the decoder.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.image_features import ImageFeatures, compute_features
from model_zoo.interactive.prompts import Prompts, prompt_groups
from model_zoo.interactive.ridge_grow import grow_ridge, ridge_strength
from model_zoo.interactive.source import (
    DEFAULT_CACHE_BYTES,
    InteractiveMask,
    check_shape,
    checked_call,
    to_original_size,
)
from model_zoo.interactive.superpixel_grow import grow_blob

RIDGE_RATIO = 10.0


class FallbackSource:
    def __init__(
        self,
        name: str = "superpixel-ridge",
        side: int = 512,
        cache: ByteLRU | None = None,
        shape: str | None = None,
    ):
        check_shape(shape)
        self.name = name
        self.side = int(side)
        self.shape = shape
        self.cache = cache if cache is not None else ByteLRU(DEFAULT_CACHE_BYTES)

    def embed(self, image: Image.Image) -> ImageFeatures:
        return compute_features(image, side=self.side)

    def segment(
        self, image: Image.Image, prompts: Prompts, key: str | None = None, shape: str | None = None
    ) -> InteractiveMask:
        width, height, key = checked_call(image, prompts, key, shape)
        features = self.cache.get_or_compute((self.name, self.side, key), lambda: self.embed(image))
        union = np.zeros(features.superpixels.shape, dtype=bool)
        shapes = []
        for points, labels, box in prompt_groups(prompts, width, height):
            positives = [p for p, label in zip(points, labels, strict=True) if label]
            negatives = [p for p, label in zip(points, labels, strict=True) if not label]
            group_shape = shape or self.shape or _pick_shape(features, positives)
            grow = grow_ridge if group_shape == "ridge" else grow_blob
            union |= grow(features, positives, negatives, box)
            shapes.append(group_shape)
        return InteractiveMask(
            to_original_size(union, width, height),
            1.0 if union.any() else 0.0,
            self.name,
            {"shapes": shapes},
        )


def _pick_shape(features: ImageFeatures, positives: list) -> str:
    if positives and ridge_strength(features, positives[0]) >= RIDGE_RATIO:
        return "ridge"
    return "blob"
