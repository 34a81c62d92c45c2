"""``superpixel``: snap the map to image structure — each SLIC superpixel (scikit-image) of the
working-size image takes the mean of the map inside it, so thresholded regions follow edges.
Superpixels are computed once per image and shared by its classes."""

from __future__ import annotations

import numpy as np

from model_zoo.cam.refinements.base import ImageContext, Refinement

#: pixels per superpixel at the working size
SUPERPIXEL_AREA = 100


class SuperpixelSnap(Refinement):
    name = "superpixel"
    summary = "map averaged inside SLIC superpixels (scikit-image), regions follow image edges"

    def __init__(self, area: int = SUPERPIXEL_AREA, compactness: float = 10.0):
        self.area = area
        self.compactness = compactness

    def segments(self, context: ImageContext) -> np.ndarray:
        from skimage.segmentation import slic

        def compute():
            width, height = context.size
            count = max(1, (width * height) // self.area)
            return slic(context.rgb, n_segments=count, compactness=self.compactness, start_label=0)

        return context.cached(("slic", self.area, self.compactness), compute)

    def refine_map(self, work, context, config):
        if work.size == 0 or float(work.max()) <= 0.0:
            return work
        labels = self.segments(context)
        sums = np.bincount(labels.ravel(), weights=work.ravel())
        counts = np.maximum(np.bincount(labels.ravel()), 1)
        return (sums / counts)[labels].astype(np.float32)
