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
        from skimage.filters import apply_hysteresis_threshold, threshold_otsu
        from skimage.morphology import remove_small_objects

        if class_name not in getattr(config, "ridge_classes", ()) or not binary.any():
            return binary
        gate = self.gate_mask(binary)
        response = self.response(context, getattr(config, "ridge_filter", "blackhat"))
        inside = response[gate]
        if inside.size < 2 or float(inside.max() - inside.min()) <= 1e-6:
            return binary
        high = float(threshold_otsu(inside))
        lines = apply_hysteresis_threshold(np.where(gate, response, 0.0), 0.5 * high, high)
        lines = remove_small_objects(lines, max_size=self.min_pixels)
        return lines if lines.any() else binary
