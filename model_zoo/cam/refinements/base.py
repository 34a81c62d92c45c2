"""What a refinement of CAM proposals is: one class overriding one stage.

The pipeline (:mod:`model_zoo.cam.pipeline`) calls every switched-on refinement at each stage,
in order; a refinement overrides the stage it works at and leaves the others as they are:

* ``refine_maps`` — model stage: the input-size maps of all pairs of a batch (TTA, AdvCAM: they
  run the model again);
* ``refine_map`` — one class's map at the working size, with the image (superpixel snapping);
* ``refine_mask`` — one class's thresholded mask at the working size (the ridge filter);
* ``proposal_groups`` — which pixels of the mask form one proposal (the ridge filter keeps the
  crack segments of one CAM region together);
* ``refine_proposals`` — the proposals of one image at its original size (SAM).

:class:`ImageContext` holds one image at the working size and caches what is computed from it
(superpixels, ridge responses), so every class of the image shares it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image


class ImageContext:
    """One image at the working size (``size = (width, height)``); results cached by key."""

    def __init__(self, image: Image.Image, size: tuple[int, int]):
        self.image = image
        self.size = size
        self._cache: dict[Any, Any] = {}

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def rgb(self) -> np.ndarray:
        """``(h, w, 3)`` uint8 at the working size."""

        def small():
            rgb = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
            if rgb.size != self.size:
                rgb = rgb.resize(self.size, Image.Resampling.BILINEAR, reducing_gap=1.0)
            return np.asarray(rgb)

        return self.cached("rgb", small)

    @property
    def grey(self) -> np.ndarray:
        """``(h, w)`` float in ``[0, 1]`` at the working size (luma, resized as one channel)."""

        def small():
            grey = self.image.convert("L")
            if grey.size != self.size:
                grey = grey.resize(self.size, Image.Resampling.BILINEAR, reducing_gap=1.0)
            return np.asarray(grey, dtype=np.float32) / 255.0

        return self.cached("grey", small)


class Refinement:
    """Base class: every stage hands its input back unchanged."""

    name = ""
    summary = ""

    def refine_maps(self, classifier, pixel_values, pairs, maps: np.ndarray, config) -> np.ndarray:
        return maps

    def refine_map(self, work: np.ndarray, context: ImageContext, config) -> np.ndarray:
        return work

    def refine_mask(
        self, binary: np.ndarray, work: np.ndarray, context: ImageContext, class_name: str, config
    ) -> np.ndarray:
        return binary

    def proposal_groups(
        self, binary: np.ndarray, groups: np.ndarray | None, class_name: str, config
    ) -> np.ndarray | None:
        return groups

    def refine_proposals(self, image: Image.Image, groups: list, sam) -> None:
        return None
