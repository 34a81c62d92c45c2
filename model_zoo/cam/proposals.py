"""Class-activation map -> segmentation proposals at the image's original size.

Steps (``proposals(cam, width, height, ...)``):

1. upsample the map (model input size, values in ``[0, 1]``) to the original size, or to a
   *working size* whose longer side is at most ``max_side`` for very large images;
2. threshold it: ``fixed:T`` (map >= T), ``relative:R`` (map >= R x its maximum) or ``otsu``
   (Otsu's threshold of the map's histogram);
3. clean up with a morphological opening then closing (disk of ``morph_radius`` pixels at the
   working size; 0 switches it off);
4. split into 8-connected components and drop those under ``min_area`` original pixels;
5. one :class:`Proposal` per component (:func:`proposals_from_mask`), scored with ``class_score x`` the map's peak inside it.

A proposal keeps only its bounding box and the mask inside it, so memory stays bounded by the
working size plus one box; :meth:`Proposal.full_mask` materialises the original-size mask when
it is encoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

THRESHOLD_KINDS = ("fixed", "relative", "otsu")
DEFAULT_MAX_SIDE = 512


@dataclass(frozen=True)
class Threshold:
    kind: str
    value: float = 0.0

    def __str__(self) -> str:
        return self.kind if self.kind == "otsu" else f"{self.kind}:{self.value:g}"

    def level(self, cam: np.ndarray) -> float:
        """The map value at and above which a pixel is foreground."""
        top = float(cam.max()) if cam.size else 0.0
        if self.kind == "fixed":
            return self.value
        if self.kind == "relative":
            return self.value * top
        from skimage.filters import threshold_otsu

        if top - float(cam.min()) < 1e-6:
            return top
        return float(threshold_otsu(cam))


def parse_threshold(spec: str | float | Threshold) -> Threshold:
    """``"relative:0.5"``, ``"fixed:0.4"``, ``"otsu"``; a bare number means ``fixed``."""
    if isinstance(spec, Threshold):
        return spec
    text = str(spec).strip().lower()
    kind, _, raw = text.partition(":")
    if kind == "otsu" and not raw:
        return Threshold("otsu")
    if not raw:
        kind, raw = "fixed", kind
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if kind not in THRESHOLD_KINDS or kind == "otsu" or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"bad CAM threshold {spec!r}: use 'relative:R' (R in [0, 1], share of the map's "
            "maximum), 'fixed:T' (T in [0, 1], the grad-cam map is normalised to [0, 1]) or 'otsu'"
        )
    return Threshold(kind, value)


@dataclass
class Proposal:
    """One connected region: its box in original pixels and the mask inside the box."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive), original pixels
    crop: np.ndarray  # bool, shape (y1 - y0, x1 - x0)
    score: float
    peak: tuple[int, int]  # (x, y) of the map's maximum inside the component, original pixels
    size: tuple[int, int]  # (width, height) of the original image
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> int:
        return int(self.crop.sum())

    def full_mask(self) -> np.ndarray:
        width, height = self.size
        mask = np.zeros((height, width), dtype=bool)
        x0, y0, x1, y1 = self.box
        mask[y0:y1, x0:x1] = self.crop
        return mask


def working_size(width: int, height: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def upsample(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a float map to ``(height, width)``."""
    import cv2

    cam = np.ascontiguousarray(cam, dtype=np.float32)
    if cam.shape == (height, width):
        return cam
    return cv2.resize(cam, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def default_morph_radius(width: int, height: int) -> int:
    return max(1, round(0.01 * max(width, height)))


def binarize(cam: np.ndarray, threshold: Threshold, morph_radius: int | None = None) -> np.ndarray:
    """Threshold + morphological opening/closing of a map at its own size."""
    if cam.size == 0 or float(cam.max()) <= 1e-6:
        return np.zeros(cam.shape, dtype=bool)
    binary = cam >= max(threshold.level(cam), 1e-6)
    height, width = cam.shape
    radius = default_morph_radius(width, height) if morph_radius is None else int(morph_radius)
    if radius > 0 and min(height, width) > 2 * radius + 1:
        import cv2

        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        # cv2 treats the outside as neutral: no erosion at the image border
        cleaned = cv2.morphologyEx(binary.astype(np.uint8), cv2.MORPH_OPEN, disk)
        binary = cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, disk).astype(bool)
    return binary


def proposals(
    cam: np.ndarray,
    width: int,
    height: int,
    threshold: str | Threshold = "relative:0.5",
    min_area: int = 0,
    class_score: float = 1.0,
    morph_radius: int | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    max_proposals: int = 20,
) -> list[Proposal]:
    """Scored proposals (best first) of one class-activation map for a ``width x height`` image."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    threshold = parse_threshold(threshold)
    work_w, work_h = working_size(width, height, max_side)
    work = upsample(np.clip(np.nan_to_num(cam), 0.0, None), work_w, work_h)
    binary = binarize(work, threshold, morph_radius)
    return proposals_from_mask(binary, work, width, height, min_area, class_score, max_proposals)


def proposals_from_mask(
    binary: np.ndarray,
    work: np.ndarray,
    width: int,
    height: int,
    min_area: int = 0,
    class_score: float = 1.0,
    max_proposals: int = 20,
    groups: np.ndarray | None = None,
) -> list[Proposal]:
    """Scored proposals (best first) of a working-size mask; ``work`` is the map scoring them.

    ``groups``: a mask holding ``binary`` whose connected components define the proposals (one
    proposal = the pixels of ``binary`` inside one component); default ``binary`` itself.
    """
    from scipy import ndimage as ndi

    if not binary.any():
        return []
    work_h, work_w = binary.shape
    sx, sy = width / work_w, height / work_h
    grouping = binary if groups is None else (groups | binary)
    labels, _ = ndi.label(grouping, structure=np.ones((3, 3), dtype=bool))
    labels[~binary] = 0
    found: list[Proposal] = []
    for index, slc in enumerate(ndi.find_objects(labels), start=1):
        if slc is None:
            continue
        component = labels[slc] == index
        if component.sum() * sx * sy < min_area:
            continue
        wy0, wy1, wx0, wx1 = slc[0].start, slc[0].stop, slc[1].start, slc[1].stop
        values = np.where(component, work[slc], -1.0)
        py, px = np.unravel_index(int(np.argmax(values)), values.shape)
        peak_value = float(values[py, px])
        x0, y0 = int(math.floor(wx0 * sx)), int(math.floor(wy0 * sy))
        x1 = min(width, max(x0 + 1, int(math.ceil(wx1 * sx))))
        y1 = min(height, max(y0 + 1, int(math.ceil(wy1 * sy))))
        if (x1 - x0, y1 - y0) == component.shape[::-1]:
            crop = component
        else:  # smooth upsampling of the component to original pixels, box by box
            crop = upsample(component.astype(np.float32), x1 - x0, y1 - y0) >= 0.5
        if crop.sum() < max(1, min_area):
            continue
        found.append(
            Proposal(
                box=(x0, y0, x1, y1),
                crop=crop,
                score=float(np.clip(class_score * peak_value, 0.0, 1.0)),
                peak=(
                    min(width - 1, int((wx0 + px + 0.5) * sx)),
                    min(height - 1, int((wy0 + py + 0.5) * sy)),
                ),
                size=(int(width), int(height)),
            )
        )
    found.sort(key=lambda p: -p.score)
    return found[:max_proposals]


def union_mask(items: list[Proposal], width: int, height: int) -> np.ndarray:
    """All proposals of one class as one original-size mask (evaluation)."""
    mask = np.zeros((height, width), dtype=bool)
    for p in items:
        x0, y0, x1, y1 = p.box
        mask[y0:y1, x0:x1] |= p.crop
    return mask
