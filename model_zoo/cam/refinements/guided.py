"""``guided``: edge-preserving smoothing of the map with the image as guide (He, Sun and Tang's
guided filter, 2010), so a coarse CAM region takes the image's edges before it is thresholded.

Per pixel the filtered map is a local linear function ``a * I + b`` of the grey working-size
image ``I``, fitted in every ``(2r + 1)^2`` window by least squares with ridge ``eps``; the
coefficients are averaged over the windows covering the pixel. Only box means are needed
(OpenCV's ``boxFilter``: O(1) per pixel whatever the radius), fitted on a copy of at most
``coarse_side`` pixels a side (the fast guided filter). ``radius`` is a share of the working
side; ``eps`` is in squared grey levels of ``[0, 1]`` (small: follow edges closely).
"""

from __future__ import annotations

import numpy as np

from model_zoo.cam.refinements.base import ImageContext, Refinement


def guided_filter(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float, step: int = 1
) -> np.ndarray:
    """``source`` filtered with the single-channel ``guide`` (both ``(h, w)`` float32).

    ``step > 1``: the fast guided filter (He and Sun, 2015): the coefficients are fitted on
    images ``step`` times smaller (radius ``radius / step``) and upsampled bilinearly; the
    output is still ``a * guide + b`` at full resolution.
    """
    import cv2

    height, width = guide.shape
    small_i, small_p, r = guide, source, radius
    if step > 1:
        size = (max(1, width // step), max(1, height // step))
        small_i = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_p = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        r = max(1, round(radius / step))
    box = (2 * r + 1, 2 * r + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, box, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(small_i), mean(small_p)
    cov_ip = mean(small_i * small_p) - mean_i * mean_p
    var_i = mean(small_i * small_i) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    mean_a, mean_b = mean(a), mean(b)
    if step > 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return mean_a * guide + mean_b


class GuidedFilter(Refinement):
    name = "guided"
    summary = "guided filter of the map with the grey image as guide (edges of the image)"

    def __init__(self, radius: float = 0.06, eps: float = 1e-3, coarse_side: int = 128):
        self.radius, self.eps, self.coarse_side = radius, eps, coarse_side

    def refine_map(self, work: np.ndarray, context: ImageContext, config) -> np.ndarray:
        if work.size == 0 or float(work.max()) <= 0.0:
            return work
        radius = max(1, round(self.radius * max(work.shape)))
        guide = context.grey.astype(np.float32)
        top = float(work.max())
        step = max(1, max(work.shape) // self.coarse_side)
        out = guided_filter(guide, (work / top).astype(np.float32), radius, self.eps, step)
        return np.clip(out, 0.0, None) * top
