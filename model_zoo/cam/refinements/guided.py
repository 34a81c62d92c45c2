"""``guided``: edge-preserving smoothing of the map with the image as guide (He, Sun and Tang's
guided filter, 2010), so a coarse CAM region takes the image's edges before it is thresholded.

Per pixel the filtered map is a local linear function ``a * I + b`` of the grey working-size
image ``I``, fitted in every ``(2r + 1)^2`` window by least squares with ridge ``eps``; the
coefficients are averaged over the windows covering the pixel. Only box means are needed
(OpenCV's ``boxFilter``: O(1) per pixel whatever the radius). ``radius`` is a share of the
working side; ``eps`` is in squared grey levels of ``[0, 1]`` (small: follow edges closely).
"""

from __future__ import annotations

import numpy as np

from model_zoo.cam.refinements.base import ImageContext, Refinement


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``source`` filtered with the single-channel ``guide`` (both ``(h, w)`` float32)."""
    import cv2

    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(source)
    cov_ip = mean(guide * source) - mean_i * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


class GuidedFilter(Refinement):
    name = "guided"
    summary = "guided filter of the map with the grey image as guide (edges of the image)"

    def __init__(self, radius: float = 0.06, eps: float = 1e-3):
        self.radius, self.eps = radius, eps

    def refine_map(self, work: np.ndarray, context: ImageContext, config) -> np.ndarray:
        if work.size == 0 or float(work.max()) <= 0.0:
            return work
        radius = max(1, round(self.radius * max(work.shape)))
        guide = context.grey.astype(np.float32)
        top = float(work.max())
        out = guided_filter(guide, (work / top).astype(np.float32), radius, self.eps)
        return np.clip(out, 0.0, None) * top
