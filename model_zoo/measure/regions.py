"""Measurements of every connected region of a binary defect mask.

For each region (8-connected component):

* ``area_px``: its pixel count;
* ``length_px``: the length of its centreline, the pruned skeleton measured with Kulpa's step
  weights plus, at each free end, the distance from the last skeleton pixel to the outline
  (:mod:`model_zoo.measure.skeleton`), i.e. tip to tip along the crack;
* ``mean_width_px``: ``area / length``, the width of a band of that length and area;
* ``max_width_px``: ``2 * d - 1`` for the largest distance transform value ``d`` on the
  centreline (``d`` is the Euclidean distance from a pixel centre to the nearest pixel centre
  outside the region, so a band ``2k + 1`` pixels across has ``d = k + 1`` on its middle row).

With ``mm_per_pixel`` the same values in millimetres (areas in mm^2). Errors against the
synthetic cracks of known width (:func:`model_zoo.data.synth.crack_of_width`) are printed by
``python -m model_zoo eval-measure``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from model_zoo.measure.skeleton import centreline, end_extension, step_length

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class RegionMeasures:
    """Measures of one region; ``bbox`` is ``(y0, x0, y1, x1)``, end-exclusive, in pixels."""

    area_px: int
    length_px: float
    mean_width_px: float
    max_width_px: float
    bbox: tuple[int, int, int, int]
    mm_per_pixel: float | None = None

    def _mm(self, value: float, power: int = 1) -> float | None:
        return None if self.mm_per_pixel is None else value * self.mm_per_pixel**power

    @property
    def area_mm2(self) -> float | None:
        return self._mm(self.area_px, 2)

    @property
    def length_mm(self) -> float | None:
        return self._mm(self.length_px)

    @property
    def mean_width_mm(self) -> float | None:
        return self._mm(self.mean_width_px)

    @property
    def max_width_mm(self) -> float | None:
        return self._mm(self.max_width_px)

    def as_dict(self) -> dict:
        """Flat dict of every measure (pixel and mm; mm values None without a scale)."""
        out = asdict(self)
        out["bbox"] = list(self.bbox)
        for name in ("area_mm2", "length_mm", "mean_width_mm", "max_width_mm"):
            out[name] = getattr(self, name)
        return out

    def describe(self) -> str:
        """One line for people, e.g. ``length 31.2 mm, max width 0.42 mm, ...`` (mm when known)."""
        if self.mm_per_pixel is None:
            return (
                f"length {self.length_px:.0f} px, max width {self.max_width_px:.1f} px, "
                f"mean width {self.mean_width_px:.1f} px, area {self.area_px} px"
            )
        return (
            f"length {self.length_mm:.1f} mm, max width {self.max_width_mm:.2f} mm, "
            f"mean width {self.mean_width_mm:.2f} mm, area {self.area_mm2:.1f} mm2 "
            f"({self.length_px:.0f} px long, {self.max_width_px:.1f} px wide at most)"
        )


def check_scale(mm_per_pixel: float | None) -> float | None:
    """``mm_per_pixel`` as a float, or None; a clear ValueError for a value that is not > 0."""
    if mm_per_pixel is None:
        return None
    try:
        value = float(mm_per_pixel)
    except (TypeError, ValueError):
        raise ValueError(f"mm_per_pixel must be a number > 0, not {mm_per_pixel!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"mm_per_pixel must be a number > 0, not {mm_per_pixel!r}")
    return value


def _measure_crop(crop: np.ndarray, y0: int, x0: int, scale: float | None) -> RegionMeasures:
    """Measures of the region ``crop`` (bool, cropped to its box whose corner is ``(y0, x0)``)."""
    area = int(crop.sum())
    if not area:
        return RegionMeasures(0, 0.0, 0.0, 0.0, (0, 0, 0, 0), scale)
    padded = np.pad(crop, 1)
    distance = ndi.distance_transform_edt(padded)
    skel = centreline(padded, distance)
    length = step_length(skel) + end_extension(skel, distance)
    h, w = crop.shape
    return RegionMeasures(
        area_px=area,
        length_px=float(length),
        mean_width_px=float(area / length) if length > 0 else 0.0,
        max_width_px=float(2.0 * distance[skel].max() - 1.0) if skel.any() else 0.0,
        bbox=(int(y0), int(x0), int(y0 + h), int(x0 + w)),
        mm_per_pixel=scale,
    )


def measure_region(region: np.ndarray, mm_per_pixel: float | None = None) -> RegionMeasures:
    """Measures of one region given as a bool mask (all its True pixels are the region)."""
    region = np.asarray(region, dtype=bool)
    if region.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {region.shape}")
    scale = check_scale(mm_per_pixel)
    rows, cols = np.nonzero(region)
    if not len(rows):
        return _measure_crop(region[:0, :0], 0, 0, scale)
    y0, x0 = int(rows.min()), int(cols.min())
    crop = region[y0 : rows.max() + 1, x0 : cols.max() + 1]
    return _measure_crop(crop, y0, x0, scale)


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a bool mask: ``(labels, count)`` as :func:`scipy.ndimage.label`."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    return ndi.label(mask, structure=_EIGHT)


def measure_regions(
    mask: np.ndarray, mm_per_pixel: float | None = None, min_area: int = 1
) -> list[RegionMeasures]:
    """Measures of every 8-connected region of ``mask`` with at least ``min_area`` pixels,
    largest first."""
    scale = check_scale(mm_per_pixel)
    labels, _ = label_regions(mask)
    out = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        crop = labels[box] == index
        if int(crop.sum()) >= min_area:
            out.append(_measure_crop(crop, box[0].start, box[1].start, scale))
    return sorted(out, key=lambda m: -m.area_px)
