"""``ridge``: a CAM-gated ridge filter delineating thin curvilinear defects (cracks).

CAMs localise a crack but are far wider than its 1-3 pixels. For the classes in
``config.ridge_classes`` (by canonical name: ``crack``, ``net_crack``), the thresholded CAM
region, dilated by ``gate`` x the working side, gates a ridge filter of the grey image
(scikit-image ``sato``, ``frangi`` or ``meijering``; dark ridges, ``sigmas`` in working pixels):
pixels whose ridge response passes a hysteresis threshold (high: Otsu's level of the response
inside the gate, low: half of it) become the mask, components under ``min_pixels`` dropped. An
image whose gate holds no ridge keeps the CAM mask. The response is computed once per image.
"""

from __future__ import annotations

import numpy as np

from model_zoo.cam.refinements.base import ImageContext, Refinement

RIDGE_FILTERS = ("sato", "frangi", "meijering")


class RidgeFilter(Refinement):
    name = "ridge"
    summary = "CAM-gated ridge filter (scikit-image Sato) delineating cracks inside the CAM region"

    def __init__(
        self,
        kind: str = "sato",
        sigmas: tuple[float, ...] = (1.0, 2.0),
        gate: float = 0.03,
        min_pixels: int = 12,
    ):
        if kind not in RIDGE_FILTERS:
            raise ValueError(f"unknown ridge filter {kind!r}: choose one of {RIDGE_FILTERS}")
        self.kind, self.sigmas, self.gate, self.min_pixels = kind, tuple(sigmas), gate, min_pixels

    def response(self, context: ImageContext) -> np.ndarray:
        import skimage.filters as filters

        def compute():
            ridge = getattr(filters, self.kind)
            out = ridge(context.grey, sigmas=self.sigmas, black_ridges=True)
            top = float(out.max())
            return (out / top if top > 0 else out).astype(np.float32)

        return context.cached(("ridge", self.kind, self.sigmas), compute)

    def gate_mask(self, binary: np.ndarray) -> np.ndarray:
        """The CAM region dilated by ``gate`` x the working side."""
        from scipy import ndimage as ndi
        from skimage.morphology import disk

        radius = max(1, round(self.gate * max(binary.shape)))
        return ndi.binary_dilation(binary, structure=disk(radius).astype(bool))

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
        response = self.response(context)
        inside = response[gate]
        if inside.size < 2 or float(inside.max() - inside.min()) <= 1e-6:
            return binary
        high = float(threshold_otsu(inside))
        lines = apply_hysteresis_threshold(np.where(gate, response, 0.0), 0.5 * high, high)
        lines = remove_small_objects(lines, max_size=self.min_pixels)
        return lines if lines.any() else binary

