"""Pseudo-masks from image labels: the classifier's CAM fused with a local dark-pixel threshold.

After König et al. (T-ITS 2022, arXiv 2109.00456): a crack classifier's localisation is
coarse but says *where*; thresholding the (mostly darker) crack pixels is sharp but marks every
stain and joint. Fused, per defect image (``pseudo_mask``):

* the CAM, normalised to its maximum and brought to the image's working size, is the
  *gate*: ``cam >= cam_high`` is where the defect is, ``cam < cam_low`` where it surely is not;
* the dark response (:func:`dark_response`: how much darker a pixel is than its surroundings,
  a morphological black-hat of the grey image, ``radius`` pixels) thresholded at Otsu's level
  inside the gate gives the defect pixels;
* confident foreground: dark pixels inside the gate (components under ``min_pixels`` dropped,
  gaps of ``close`` pixels closed);
* confident background: pixels that are not dark at all (under ``bg_dark`` x the level), and
  pixels far outside the gate that are not clearly dark;
* everything else, and a band of ``band`` pixels around the foreground (people draw cracks
  wider than their dark core), is ignored: the network does not learn from it.

An image whose gate holds no dark pixel gets no foreground: all of it ignored but the clearly
bright pixels (it still teaches some background). Images labeled without defects are all
background (the caller's job).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class PseudoConfig:
    cam_high: float = 0.2  # share of the map's maximum: the defect's region
    cam_low: float = 0.1  # below: no defect there
    radius: int = 16  # black-hat disk radius (working pixels): darker lines up to ~2r wide
    close: int = 2  # closing radius joining the dark pixels of one crack (0: none)
    bg_dark: float = 0.5  # a pixel under bg_dark x the level is not dark (background)
    band: int = 2  # ignored pixels around the foreground
    min_pixels: int = 16  # smallest foreground component kept
    max_side: int = 1024  # working size of the computation


def grey_array(image: Image.Image, max_side: int = 0) -> np.ndarray:
    """``[0, 1]`` float32 grey image, shrunk so its longer side is at most ``max_side``."""
    grey = image.convert("L")
    if max_side and max(grey.size) > max_side:
        scale = max_side / max(grey.size)
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(grey, dtype=np.float32) / 255.0


def dark_response(grey: np.ndarray, radius: int) -> np.ndarray:
    """How much darker than its surroundings each pixel is (black-hat, grey levels in [0, 1])."""
    import cv2

    side = 2 * max(1, int(radius)) + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    image = np.round(grey * 255).astype(np.uint8)
    return cv2.morphologyEx(image, cv2.MORPH_BLACKHAT, disk).astype(np.float32) / 255.0


def otsu_level(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    if values.size < 2 or float(values.max() - values.min()) <= 1e-6:
        return float(values.max()) if values.size else 0.0
    return float(threshold_otsu(values))


def _drop_small(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), 8)
    keep = stats[:, cv2.CC_STAT_AREA] >= max(1, min_pixels)
    keep[0] = False
    return keep[labels]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    if radius <= 0:
        return mask.copy()
    side = 2 * radius + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    return cv2.dilate(mask.astype(np.uint8), disk).astype(bool)


def _close(mask: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    side = 2 * radius + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disk).astype(bool)


def pseudo_mask(
    grey: np.ndarray, cam: np.ndarray, config: PseudoConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(foreground, background)`` bool masks at ``grey``'s size; ``cam``: the class map,
    any size, values >= 0 (the rest is ignored)."""
    import cv2

    height, width = grey.shape
    cam = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0, None)
    cam = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    cam = cam / max(float(cam.max()), 1e-6)
    dark = dark_response(grey, config.radius)
    gate = cam >= config.cam_high
    if gate.sum() < 2:
        return np.zeros(grey.shape, bool), dark < 0.02
    level = max(otsu_level(dark[gate]), 0.02)
    foreground = _drop_small(gate & (dark >= level), config.min_pixels)
    if config.close > 0:
        foreground = _close(foreground, config.close) & gate
    not_dark = dark < config.bg_dark * level
    background = (not_dark | ((cam < config.cam_low) & (dark < level))) & ~_dilate(
        foreground, config.band
    )
    return foreground, background


def dark_regions(image: Image.Image, min_area: int, radius: int = 16) -> list[np.ndarray]:
    """The naive ``dark`` baseline: pixels darker than their surroundings by Otsu's level of the
    whole image's dark response, one region per component of at least ``min_area`` pixels."""
    from model_zoo.masks.scoring import region_masks

    grey = grey_array(image)
    dark = dark_response(grey, radius)
    level = max(otsu_level(dark), 0.02)
    return region_masks(dark >= level, min_area)
