"""``ridge``: a CAM-gated ridge filter delineating thin curvilinear defects (cracks).

CAMs localise a crack but are far wider than its 1-3 pixels. For the classes in
``config.ridge_classes`` (by canonical name: ``crack``, ``net_crack``), the thresholded CAM
region, dilated by ``gate`` x the working side, gates a ridge filter of the grey image
(``config.ridge_filter``: scikit-image's ``sato``, ``frangi`` or ``meijering``, dark ridges at
``sigmas`` working pixels, or ``blackhat``, OpenCV's morphological black-hat with a disk of
``2 x max(sigmas) + 1`` pixels, a hundred times faster at about the same quality):
pixels whose ridge response passes a hysteresis threshold (high: Otsu's level of the response
inside the gate, low: half of it) become the mask, components under ``min_pixels`` dropped. An
image whose gate holds no ridge keeps the CAM mask. The response is computed once per image.
"""

from __future__ import annotations

import numpy as np

from model_zoo.cam.refinements.base import ImageContext, Refinement

RIDGE_FILTERS = ("blackhat", "sato", "frangi", "meijering")


def ridge_response(grey: np.ndarray, kind: str, sigmas: tuple[float, ...]) -> np.ndarray:
    """Dark-ridge response of a ``[0, 1]`` grey image, scaled to ``[0, 1]``."""
    if kind == "blackhat":
        import cv2

        side = 2 * round(max(sigmas)) + 1
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        image = np.round(grey * 255).astype(np.uint8)
        out = cv2.morphologyEx(image, cv2.MORPH_BLACKHAT, disk).astype(np.float32)
    else:
        import skimage.filters as filters

        out = getattr(filters, kind)(grey, sigmas=sigmas, black_ridges=True)
    top = float(out.max())
    return (out / top if top > 0 else out).astype(np.float32)


class RidgeFilter(Refinement):
    name = "ridge"
    summary = "CAM-gated ridge filter (black-hat or Sato/Frangi/Meijering) delineating cracks"

    def __init__(
        self,
        sigmas: tuple[float, ...] = (1.0, 2.0),
        gate: float = 0.03,
        min_pixels: int = 12,
    ):
        self.sigmas, self.gate, self.min_pixels = tuple(sigmas), gate, min_pixels

    def response(self, context: ImageContext, kind: str) -> np.ndarray:
        return context.cached(
            ("ridge", kind, self.sigmas),
            lambda: ridge_response(context.grey, kind, self.sigmas),
        )

    def gate_mask(self, binary: np.ndarray) -> np.ndarray:
        """The region dilated by ``gate`` x the working side (OpenCV, square kernel: separable,
        so its cost does not grow with the radius)."""
        import cv2

        side = 2 * max(1, round(self.gate * max(binary.shape))) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
        return cv2.dilate(binary.astype(np.uint8), kernel).astype(bool)

    def proposal_groups(self, binary, groups, class_name, config):
        """Crack segments closer than the gate radius form one proposal."""
        if class_name not in getattr(config, "ridge_classes", ()) or not binary.any():
            return groups
        return self.gate_mask(binary)

    def refine_mask(self, binary, work, context, class_name, config):
        from skimage.filters import threshold_otsu

        if class_name not in getattr(config, "ridge_classes", ()) or not binary.any():
            return binary
        gate = self.gate_mask(binary)
        response = self.response(context, getattr(config, "ridge_filter", "blackhat"))
        inside = response[gate]
        if inside.size < 2 or float(inside.max() - inside.min()) <= 1e-6:
            return binary
        high = float(threshold_otsu(hist=histogram(inside)))
        lines = hysteresis(response, gate, 0.5 * high, high, self.min_pixels)
        return lines if lines.any() else binary


def histogram(values: np.ndarray, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin centres of ``values`` over their range (``np.bincount`` of the quantised
    values: several times faster than ``np.histogram``, which Otsu's threshold would call)."""
    low, top = float(values.min()), float(values.max())
    width = (top - low) / bins
    index = np.minimum(((values - low) / width).astype(np.int32), bins - 1)
    centres = low + width * (np.arange(bins) + 0.5)
    return np.bincount(index, minlength=bins), centres


def hysteresis(
    response: np.ndarray, gate: np.ndarray, low: float, high: float, max_small: int
) -> np.ndarray:
    """Pixels of the gate above ``low`` that are 4-connected to one above ``high``, components
    of at most ``max_small`` pixels dropped (scikit-image's ``apply_hysteresis_threshold`` then
    ``remove_small_objects``, in one OpenCV labelling of the gate's bounding box)."""
    import cv2

    rows, cols = np.nonzero(gate.any(axis=1))[0], np.nonzero(gate.any(axis=0))[0]
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    inside, gated = response[box], gate[box]
    weak = (inside > low) & gated
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        weak.view(np.uint8), connectivity=4, ltype=cv2.CV_32S
    )
    keep = np.zeros(count, dtype=bool)
    keep[labels[(inside > high) & gated]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] > max_small
    keep[0] = False
    out = np.zeros(gate.shape, dtype=bool)
    out[box] = keep[labels]
    return out
