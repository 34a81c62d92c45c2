"""Synthetic data: noise fields, textures, resizing and the small array helpers."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

F32 = np.float32


# --------------------------------------------------------------------------------------------
# noise and small helpers
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _freqs(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    fy = np.fft.fftfreq(h).astype(F32)[:, None]
    fx = np.fft.rfftfreq(w).astype(F32)[None, :]
    return fy, fx


def _noise(
    rng: np.random.Generator,
    h: int,
    w: int,
    beta: float = 2.0,
    cutoff: float | None = None,
    stretch: tuple[float, float] = (1.0, 1.0),
    res: int = 1,
) -> np.ndarray:
    """Zero-mean, unit-std 1/f^beta noise by spectral synthesis.

    ``cutoff``: Gaussian low-pass in cycles per pixel; ``stretch=(sy, sx)``: anisotropy
    (sy > 1 makes features long in y, sx > 1 long in x); ``res`` > 1 synthesises at 1/res resolution and
    interpolates (for smooth fields).
    """
    if res > 1:
        hs, ws = max(8, -(-h // res)), max(8, -(-w // res))
        small = _noise(rng, hs, ws, beta, None if cutoff is None else cutoff * h / hs, stretch)
        out = _resize(small, h, w)
        out -= out.mean()
        out /= out.std() + F32(1e-8)
        return out
    amp = _amplitude(
        h, w, float(beta), None if cutoff is None else round(float(cutoff), 3), *map(float, stretch)
    )
    spec = rng.standard_normal((*amp.shape, 2), dtype=F32).view(np.complex64)[..., 0]
    out = np.fft.irfft2(spec * amp, s=(h, w)).astype(F32, copy=False)
    out /= out.std() + F32(1e-8)  # the mean is 0: no DC term
    return out


@functools.lru_cache(maxsize=256)
def _amplitude(
    h: int, w: int, beta: float, cutoff: float | None, sy: float, sx: float
) -> np.ndarray:
    """Spectral amplitude of :func:`_noise` (rfft layout), cached."""
    fy, fx = _freqs(h, w)
    f = np.sqrt((fy * F32(sy)) ** 2 + (fx * F32(sx)) ** 2)
    f[0, 0] = 1.0
    amp = f ** F32(-beta / 2.0)
    if cutoff is not None:
        amp *= np.exp(-((f / F32(cutoff)) ** 2))
    amp[0, 0] = 0.0
    amp.flags.writeable = False
    return amp


def _noise1d(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    x = ndi.gaussian_filter1d(rng.standard_normal(n + 8).astype(F32), max(sigma, 0.3), mode="wrap")[
        4:-4
    ]
    return (x - x.mean()) / (x.std() + F32(1e-8))


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - F32(a)) / F32(b - a), 0.0, 1.0)
    return t * t * (F32(3.0) - F32(2.0) * t)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(F32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def _shift(a: np.ndarray, dy: int, dx: int, fill: float | bool = 0) -> np.ndarray:
    """``out[y, x] = a[y - dy, x - dx]`` (no wrap-around)."""
    out = np.full_like(a, fill)
    h, w = a.shape[:2]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = a[ys, xs]
    return out


_CROSS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_RING = ((-1, -1), (-1, 1), (1, -1), (1, 1))
_HALF = ((1, 0), (0, 1), (1, 1))
_FAR = ((2, 0), (0, 2), (-1, 0), (0, -1), (2, 1), (1, 2))


def _max_shifts(a: np.ndarray, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    out = a.copy()
    for dy, dx in offsets:
        np.maximum(out, _shift(a, dy, dx, a.min() if a.size else 0), out=out)
    return out


@functools.lru_cache(maxsize=8)
def _texture(name: str) -> np.ndarray:
    """A real texture photo shipped with scikit-image, as float32 grey in [0, 1]."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)(), dtype=F32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1.0)
    img.flags.writeable = False
    return img


def _texture_patch(rng: np.random.Generator, name: str, h: int, w: int, zoom: float) -> np.ndarray:
    """Random crop of a texture photo, scaled by ``zoom`` to (h, w), maybe flipped/transposed."""
    tex = _texture(name)
    if rng.random() < 0.5:
        tex = tex.T
    ch = max(8, int(math.ceil(h / zoom)))
    cw = max(8, int(math.ceil(w / zoom)))
    th, tw = tex.shape
    if ch > th or cw > tw:
        tex = np.pad(tex, ((0, max(0, ch - th)), (0, max(0, cw - tw))), mode="symmetric")
        th, tw = tex.shape
    y0 = int(rng.integers(0, th - ch + 1))
    x0 = int(rng.integers(0, tw - cw + 1))
    crop = tex[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[::-1]
    return _resize(crop, h, w)


@functools.lru_cache(maxsize=64)
def _resize_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_in - 1), (pos - i0).astype(F32)


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a 2-D array (pixel-centre aligned, no anti-aliasing)."""
    i0, i1, fy = _resize_taps(a.shape[0], h)
    rows = a[i0] * (F32(1.0) - fy[:, None]) + a[i1] * fy[:, None]
    j0, j1, fx = _resize_taps(a.shape[1], w)
    return (rows[:, j0] * (F32(1.0) - fx) + rows[:, j1] * fx).astype(F32, copy=False)


def _blob(
    rng: np.random.Generator,
    h: int,
    w: int,
    center: tuple[float, float],
    radii: tuple[float, float],
    angle: float,
    roughness: float = 0.35,
    edge: float = 0.08,
    noises: tuple[np.ndarray, np.ndarray] | None = None,
    largest: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Irregular blob around ``center`` with ``radii`` (ry, rx) rotated by ``angle``.

    Returns (bool mask, field) where field < 1 inside; the mask keeps only the largest
    component unless ``largest=False``.  ``noises``: (coarse, fine) perturbation fields to
    reuse (several blobs of one image may share them), else drawn here.
    """
    yy, xx = _grid(h, w)
    cy, cx = center
    ca, sa = math.cos(angle), math.sin(angle)
    dy, dx = yy - F32(cy), xx - F32(cx)
    u = (dx * F32(ca) + dy * F32(sa)) / F32(radii[1])
    v = (-dx * F32(sa) + dy * F32(ca)) / F32(radii[0])
    field = np.sqrt(u * u + v * v)
    coarse, fine = noises if noises is not None else (None, None)
    field += F32(roughness) * (_noise(rng, h, w, beta=3.0, res=4) if coarse is None else coarse)
    if edge:
        field += F32(edge) * (_noise(rng, h, w, beta=2.0, cutoff=0.25) if fine is None else fine)
    mask = field < 1.0
    if not largest:
        return mask, field
    lab, n = ndi.label(mask)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        mask = lab == int(sizes.argmax())
    return mask, field


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)),
        slice(max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)),
    )


def _inside_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance to the outside of ``mask`` (computed on its bounding box)."""
    out = np.zeros(mask.shape, F32)
    box = _bbox(mask, 1)
    if box is not None:
        out[box] = ndi.distance_transform_edt(np.pad(mask[box], 1))[1:-1, 1:-1]
    return out


def _pick_center(
    rng: np.random.Generator, h: int, w: int, region_dist: np.ndarray | None, margin: float
) -> tuple[float, float]:
    """A random point, at least ``margin`` px inside the region (or image) when possible."""
    if region_dist is None:
        m = min(margin, 0.45 * min(h, w))
        return float(rng.uniform(m, h - m)), float(rng.uniform(m, w - m))
    for m in (margin, margin / 2, 1.0):
        ys, xs = np.nonzero(region_dist >= m)
        if len(ys):
            i = int(rng.integers(len(ys)))
            return float(ys[i]) + float(rng.uniform(-0.5, 0.5)), float(xs[i]) + float(
                rng.uniform(-0.5, 0.5)
            )
    return h / 2.0, w / 2.0


def _random_patch(
    rng: np.random.Generator,
    h: int,
    w: int,
    region_dist: np.ndarray | None,
    margin: float,
    radius: tuple[float, float],
    aspect: tuple[float, float],
    roughness: float,
    edge: float,
    noises: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[float, float], float]:
    """A soft, randomly turned blob at a random point ``margin`` px inside the region: its
    field (< 1 inside), centre and long radius (``radius``: a range, as a fraction of the image
    side; ``aspect``: the range of short / long radius)."""
    cy, cx = _pick_center(rng, h, w, region_dist, margin)
    r = min(h, w) * rng.uniform(*radius)
    radii = (r * rng.uniform(*aspect), r)
    angle = rng.uniform(0, math.pi)
    _, field = _blob(
        rng, h, w, (cy, cx), radii, angle, roughness, edge, noises=noises, largest=False
    )
    return field, (cy, cx), r


def _stain_alpha(
    rng: np.random.Generator,
    field: np.ndarray,
    texture: np.ndarray,
    region_dist: np.ndarray | None,
    cap: float,
) -> np.ndarray:
    """Opacity of a stain: its field times its texture, at a random strength, at most
    ``cap``, and only on the region."""
    alpha = np.clip(field * texture * F32(rng.uniform(0.8, 0.95)), 0, cap)
    if region_dist is not None:
        alpha *= region_dist > 0
    return alpha


def _blend(rgb: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: rgb = rgb * (1 - alpha) + colour * alpha (colour (3,) or (H, W, 3))."""
    a = alpha[..., None]
    rgb *= F32(1.0) - a
    rgb += colour * a


def _soft_mask(alpha: np.ndarray, threshold: float) -> np.ndarray:
    """Defect mask of a soft overlay: where its (slightly smoothed) opacity is visible."""
    return ndi.gaussian_filter(alpha, 0.8) > F32(threshold)
