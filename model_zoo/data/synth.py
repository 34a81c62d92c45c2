"""Synthetic concrete-inspection data: ``python -m model_zoo synth --out DIR --n N``.

Procedurally renders concrete surfaces (or, with ``--scenes``, concrete structures in front of
water, sky, vegetation, gravel or a stone wall) with one defect class per image and the exact
ground-truth mask of the defect.  Writes the layout of :mod:`model_zoo.data.dataset`::

    DIR/images/<class>/<name>.png       RGB image
    DIR/masks/<class>/<name>.png        0/255 defect mask (all zero for no_defect)
    DIR/foreground/<class>/<name>.png   0/255 mask of the structure (--scenes only)
    DIR/tasks.json                      Label Studio tasks [{"data": {"image": URL, "class": C}}]
    DIR/manifest.json                   settings, seed, class counts and the file list

Everything is vectorised numpy/scipy; an image is a pure function of (seed, class, index), so
``crack_s0_00003.png`` is the same whatever N or the other classes are.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from model_zoo.data.dataset import CLASS_TITLES, DEFECT_CLASSES

__all__ = [
    "CLASS_TITLES",
    "DEFECT_CLASSES",
    "add_arguments",
    "allocate_counts",
    "generate_dataset",
    "parse_classes",
    "parse_imbalance",
    "render_sample",
    "run",
    "sample_name",
    "sample_rng",
]

F32 = np.float32
FORMAT_VERSION = 1
_IMAGE_URL_ROOT = "/data/local-files/?d="


# --------------------------------------------------------------------------------------------
# class selection and imbalance
# --------------------------------------------------------------------------------------------


def parse_classes(spec: str | Sequence[str] | None) -> list[str]:
    """``"crack,rust"`` (or a list) -> validated class names in canonical order; None -> all."""
    if spec is None:
        return list(DEFECT_CLASSES)
    names = [c.strip() for c in spec.split(",")] if isinstance(spec, str) else [*spec]
    names = [c for c in names if c]
    if not names:
        raise ValueError(
            "--classes is empty; give a comma-separated list of " + ", ".join(DEFECT_CLASSES)
        )
    unknown = [c for c in names if c not in DEFECT_CLASSES]
    if unknown:
        raise ValueError(
            f"unknown class(es) {', '.join(unknown)}; known: {', '.join(DEFECT_CLASSES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"--classes lists a class twice: {','.join(names)}")
    return [c for c in DEFECT_CLASSES if c in names]


def _fraction(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what}: {text!r} must be a finite number >= 0")
    return value


_IMBALANCE_HELP = (
    "use 'uniform', 'rare:CLASS[,CLASS]=FRACTION' (e.g. rare:exposed_rebar,spalling=0.05) "
    "or explicit weights 'crack=0.3,no_defect=0.5,...'"
)


def parse_imbalance(spec: str | None, classes: Sequence[str]) -> dict[str, float]:
    """Class weights (summing to 1) for an ``--imbalance`` spec over ``classes``.

    * ``uniform``: equal weights;
    * ``rare:A,B=F``: A and B share the fraction F (0 <= F <= 1), the other classes share 1 - F;
    * ``A=0.3,B=0.5``: explicit weights, normalised; classes not named get weight 0.

    Raises ValueError with a readable message on a malformed spec.
    """
    classes = list(classes)
    if not classes:
        raise ValueError("no classes selected")
    text = (spec or "uniform").strip()
    if text.lower() == "uniform":
        return {c: 1.0 / len(classes) for c in classes}

    def check(names: list[str]) -> None:
        for c in names:
            if c not in classes:
                where = (
                    "is not a known class" if c not in DEFECT_CLASSES else "is not among --classes"
                )
                raise ValueError(f"--imbalance {text!r}: {c!r} {where} ({', '.join(classes)})")

    if text.lower().startswith("rare:"):
        body = text[5:]
        if body.count("=") != 1:
            raise ValueError(
                f"--imbalance {text!r}: expected rare:CLASS[,CLASS]=FRACTION; {_IMBALANCE_HELP}"
            )
        names_text, frac_text = body.split("=")
        rare = [c.strip() for c in names_text.split(",") if c.strip()]
        if not rare:
            raise ValueError(f"--imbalance {text!r}: no class before '='; {_IMBALANCE_HELP}")
        check(rare)
        frac = _fraction(frac_text.strip(), f"--imbalance {text!r}")
        if frac > 1:
            raise ValueError(f"--imbalance {text!r}: the fraction must be between 0 and 1")
        others = [c for c in classes if c not in rare]
        weights = dict.fromkeys(classes, 0.0)
        if not others:  # all classes are "rare": nothing to be rare against
            return {c: 1.0 / len(classes) for c in classes}
        for c in rare:
            weights[c] = frac / len(set(rare))
        for c in others:
            weights[c] = (1.0 - frac) / len(others)
    else:
        weights = dict.fromkeys(classes, 0.0)
        seen: set[str] = set()
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if part.count("=") != 1:
                raise ValueError(
                    f"--imbalance {text!r}: {part!r} is not CLASS=WEIGHT; {_IMBALANCE_HELP}"
                )
            name, value = (p.strip() for p in part.split("="))
            check([name])
            if name in seen:
                raise ValueError(f"--imbalance {text!r}: {name!r} is given twice")
            seen.add(name)
            weights[name] = _fraction(value, f"--imbalance {text!r}")
        if not seen:
            raise ValueError(f"--imbalance {text!r} is empty; {_IMBALANCE_HELP}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"--imbalance {text!r}: all weights are zero")
    return {c: w / total for c, w in weights.items()}


def allocate_counts(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``n`` images over classes by weight: sums to ``n`` exactly; every class with a
    non-zero weight gets at least one image when ``n`` allows (largest remainder otherwise)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    names = list(weights)
    positive = [c for c in names if weights[c] > 0]
    counts = dict.fromkeys(names, 0)
    if n == 0 or not positive:
        return counts
    order = {c: i for i, c in enumerate(names)}
    if n < len(positive):  # cannot give everyone one: the heaviest classes win
        for c in sorted(positive, key=lambda c: (-weights[c], order[c]))[:n]:
            counts[c] = 1
        return counts
    target = {c: weights[c] * n for c in names}
    for c in positive:
        counts[c] = max(1, int(math.floor(target[c])))
    while sum(counts.values()) > n:  # take from the most over-served class that can spare one
        c = max(
            (c for c in positive if counts[c] > 1), key=lambda c: (counts[c] - target[c], -order[c])
        )
        counts[c] -= 1
    while sum(counts.values()) < n:  # largest remainder
        c = max(positive, key=lambda c: (target[c] - counts[c], -order[c]))
        counts[c] += 1
    return counts


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


def _blend(rgb: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place: rgb = rgb * (1 - alpha) + colour * alpha (colour (3,) or (H, W, 3))."""
    a = alpha[..., None]
    rgb *= F32(1.0) - a
    rgb += colour * a


def _soft_mask(alpha: np.ndarray, threshold: float) -> np.ndarray:
    """Defect mask of a soft overlay: where its (slightly smoothed) opacity is visible."""
    return ndi.gaussian_filter(alpha, 0.8) > F32(threshold)


# --------------------------------------------------------------------------------------------
# concrete surface
# --------------------------------------------------------------------------------------------


def _pores(rng: np.random.Generator, lum: np.ndarray, count: int, rmin: float, rmax: float) -> None:
    """Bug holes / air voids: small dark recesses, shadowed at the top, lit at the bottom rim."""
    h, w = lum.shape
    for _ in range(count):
        r = float(np.exp(rng.uniform(math.log(rmin), math.log(rmax))))
        ry, rx = r * rng.uniform(0.7, 1.0), r * rng.uniform(0.8, 1.3)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        depth = F32(rng.uniform(0.12, 0.35))
        y0, y1 = max(0, int(cy - ry - 2)), min(h, int(cy + ry + 3))
        x0, x1 = max(0, int(cx - rx - 2)), min(w, int(cx + rx + 3))
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=F32)[:, None] - F32(cy)
        xx = np.arange(x0, x1, dtype=F32)[None, :] - F32(cx)
        d = np.sqrt((yy / F32(ry)) ** 2 + (xx / F32(rx)) ** 2)
        inside = _smoothstep(1.15, 0.75, d)
        shade = F32(0.5) + F32(0.5) * np.clip(yy / F32(ry), -1, 1)  # light from the top
        rim = np.exp(-(((d - F32(1.05)) / F32(0.25)) ** 2)) * (yy > 0)
        lum[y0:y1, x0:x1] += -depth * inside * (F32(1.1) - F32(0.6) * shade) + F32(0.05) * rim


def _formwork(rng: np.random.Generator, lum: np.ndarray, scale: float) -> None:
    """Board-formwork marks: board joints, tone steps between boards and wood grain."""
    h, w = lum.shape
    vertical = rng.random() < 0.35
    n_along, n_across = (h, w) if vertical else (w, h)
    period = n_across * rng.uniform(0.22, 0.55) * scale
    phase = rng.uniform(0, period)
    pos = np.arange(n_across, dtype=F32)
    board = np.floor((pos - phase) / period).astype(int)
    tones = rng.normal(0, 0.018, board.max() - board.min() + 1).astype(F32)
    across = tones[board - board.min()]
    dist = np.abs(((pos - phase) % period) - period / 2) - period / 2  # 0 at the joints
    joint = np.exp(-((dist / F32(rng.uniform(0.6, 1.4))) ** 2)) * F32(rng.uniform(0.03, 0.08))
    across = across - joint * F32(1 if rng.random() < 0.8 else -1)
    if rng.random() < 0.6:  # wood grain printed by the boards
        grain = _noise(rng, n_across, n_along, beta=2.0, stretch=(1.0, 10.0)) * F32(
            rng.uniform(0.005, 0.015)
        )
        lum += grain.T if vertical else grain
    lum += across[None, :] if vertical else across[:, None]


def _concrete(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Grey-level concrete surface (H, W) around 0.4..0.75; ``scale`` = camera zoom (~0.5..1.6)."""
    base = rng.uniform(0.42, 0.70)
    lum = F32(rng.uniform(0.02, 0.06)) * _noise(rng, h, w, beta=3.2, res=4)  # mottling
    lum += F32(base)
    lum += F32(rng.uniform(0.010, 0.025)) * _noise(rng, h, w, beta=1.6, cutoff=0.45 / scale)
    # aggregate: thresholded band-limited noise gives stone-shaped patches of varied tone
    agg = _noise(rng, h, w, beta=1.2, cutoff=0.12 / scale)
    t = rng.uniform(0.8, 1.5)
    stones = _smoothstep(t, t + 0.35, agg)
    tone = _noise(rng, h, w, beta=2.0, res=2)
    lum += stones * F32(rng.uniform(0.03, 0.08)) * (tone * F32(0.8) + F32(rng.choice([-0.6, 0.6])))
    # sand and cement grain
    sand = rng.standard_normal((h, w), dtype=F32)
    lum += F32(rng.uniform(0.015, 0.04)) * ndi.gaussian_filter(sand, 0.45 * scale + 0.2)
    if rng.random() < 0.55:  # a real texture photo as extra variation
        name = "gravel" if rng.random() < 0.75 else "brick"
        tex = _texture_patch(rng, name, h, w, zoom=rng.uniform(0.5, 1.3) * scale)
        tex -= ndi.uniform_filter(tex, 15)
        lum += tex * F32(rng.uniform(0.06, 0.16) if name == "gravel" else rng.uniform(0.04, 0.1))
    if rng.random() < 0.45:
        _formwork(rng, lum, scale)
    density = rng.uniform(0.0, 30.0) * (h * w / 65536.0) / scale
    _pores(rng, lum, int(rng.poisson(density)), 0.6 * scale, 3.5 * scale)
    if rng.random() < 0.15:  # a few big bug holes
        _pores(rng, lum, int(rng.integers(1, 4)), 3.0 * scale, 6.0 * scale)
    return lum


def _colourise(rng: np.random.Generator, lum: np.ndarray) -> np.ndarray:
    """Grey -> slightly tinted RGB with low-frequency chroma variation."""
    h, w = lum.shape
    warm = rng.uniform(-0.03, 0.06)
    chroma = _noise(rng, h, w, beta=3.5, res=8) * F32(rng.uniform(0.005, 0.02))
    rgb = np.empty((h, w, 3), F32)
    rgb[..., 0] = lum * F32(1 + warm) + chroma
    rgb[..., 1] = lum * F32(1 + warm * 0.3)
    rgb[..., 2] = lum * F32(1 - warm) - chroma
    return rgb


# --------------------------------------------------------------------------------------------
# defects: each modifies rgb in place and returns the bool mask of the defect
# --------------------------------------------------------------------------------------------


def _fractal_polyline(
    rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, rough: float, seg: float = 2.5
) -> np.ndarray:
    """Midpoint-displacement polyline from p0 to p1 (points (N, 2) as y, x)."""
    pts = np.array([p0, p1], dtype=np.float64)
    length = float(np.hypot(*(pts[1] - pts[0])))
    levels = max(1, int(math.ceil(math.log2(max(length / seg, 1.0)))))
    for level in range(levels):
        a, b = pts[:-1], pts[1:]
        d = b - a
        seg_len = np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-9
        normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / seg_len
        r = rough * (0.6 if level == 0 else 1.0)
        mid = (a + b) / 2 + normal * (rng.normal(0, r, len(a))[:, None] * seg_len)
        out = np.empty((len(pts) + len(mid), 2))
        out[0::2] = pts
        out[1::2] = mid
        pts = out
    return pts


def _densify(pts: np.ndarray, step: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step`` px along a polyline, and their arc-length fraction t in [0, 1]."""
    d = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(d)])
    total = max(float(s[-1]), 1e-6)
    ss = np.arange(0.0, total + step, step)
    y = np.interp(ss, s, pts[:, 0])
    x = np.interp(ss, s, pts[:, 1])
    return np.stack([y, x], axis=1), ss / total


class _CrackCanvas:
    """Crack centre pixels with a half-width (0..2 px) and a depth each; ``render`` draws them.

    Half-width levels: < 0.5 -> 1 px wide, >= 0.5 -> 2 px, >= 1 -> 3 px, >= 1.4 -> 3 px with
    diagonals, >= 1.9 -> 4 px.
    """

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.centre = np.zeros((h, w), bool)
        self.half_width = np.zeros((h, w), F32)
        self.depth = np.zeros((h, w), F32)

    def add_polyline(
        self, rng: np.random.Generator, pts: np.ndarray, max_half_width: float, depth: float
    ) -> None:
        dense, t = _densify(pts)
        n = len(t)
        taper = np.sin(np.pi * np.clip(t, 0, 1)) ** 0.6
        wobble = 1.0 + 0.35 * _noise1d(rng, n, sigma=max(n / 20.0, 1.0))
        hw = np.clip(max_half_width * taper * wobble, 0.0, 2.0)
        along = 1.0 + 0.15 * _noise1d(rng, n, max(n / 30.0, 1.0))
        dep = np.clip(depth * (0.6 + 0.4 * taper) * along, 0.3, 0.9)
        iy = np.rint(dense[:, 0]).astype(int)
        ix = np.rint(dense[:, 1]).astype(int)
        ok = (iy >= 0) & (iy < self.h) & (ix >= 0) & (ix < self.w)
        iy, ix = iy[ok], ix[ok]
        self.centre[iy, ix] = True
        np.maximum.at(self.half_width, (iy, ix), hw[ok].astype(F32))
        np.maximum.at(self.depth, (iy, ix), dep[ok].astype(F32))

    def render(self, rgb: np.ndarray, soft: float = 0.7) -> np.ndarray:
        full = np.zeros((self.h, self.w), bool)
        box = _bbox(self.centre, 4)
        if box is None:
            return full
        centre = self.centre[box]
        hw = np.where(centre, self.half_width[box], F32(-1.0))
        mask = centre.copy()
        for level, offsets in ((0.5, _HALF), (1.0, _CROSS), (1.4, _RING), (1.9, _FAR)):
            mask |= _max_shifts(np.where(hw >= level, F32(1.0), F32(0.0)), offsets) > 0
        dep = np.where(centre, self.depth[box], F32(0.0))
        dep = np.where(centre, dep, _max_shifts(_max_shifts(dep, _CROSS + _RING), _HALF)) * mask
        halo = ndi.gaussian_filter(dep, soft) * F32(1.4)
        dark = np.clip(np.maximum(dep, np.minimum(halo, F32(0.45))), 0.0, 0.92)
        sub = rgb[box]
        sub *= (F32(1.0) - dark)[..., None]
        sub += (dark * F32(0.05))[..., None] * np.array([1.0, 0.9, 0.8], F32)
        full[box] = mask
        return full


def _crack(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    h, w = rgb.shape[:2]
    size = min(h, w)
    canvas = _CrackCanvas(h, w)
    n_systems = 1 if rng.random() < 0.85 else 2
    for k in range(n_systems):
        cy, cx = _pick_center(rng, h, w, region_dist, 0.25 * size)
        length = size * rng.uniform(0.7, 1.4) * (1.0 if k == 0 else 0.5)
        theta = rng.uniform(0, math.pi)
        u = np.array([math.sin(theta), math.cos(theta)])
        c = np.array([cy, cx])
        main = _fractal_polyline(
            rng, c - u * length / 2, c + u * length / 2, rough=rng.uniform(0.1, 0.2)
        )
        max_hw = rng.uniform(0.4, 2.0)
        depth = rng.uniform(0.45, 0.75)
        canvas.add_polyline(rng, main, max_hw, depth)
        for _ in range(int(rng.integers(0, 4))):
            i = int(rng.integers(len(main) // 6, max(len(main) * 5 // 6, len(main) // 6 + 1)))
            j = min(i + 2, len(main) - 1)
            local = math.atan2(*(main[j] - main[max(i - 2, 0)]))
            ang = local + rng.choice([-1, 1]) * rng.uniform(0.35, 1.1)
            blen = length * rng.uniform(0.12, 0.4)
            p0 = main[i]
            p1 = p0 + blen * np.array([math.sin(ang), math.cos(ang)])
            branch = _fractal_polyline(rng, p0, p1, rough=rng.uniform(0.12, 0.22))
            canvas.add_polyline(
                rng, branch, max_hw * rng.uniform(0.4, 0.8), depth * rng.uniform(0.75, 1.0)
            )
    return canvas.render(rgb)


def _voronoi_labels(
    rng: np.random.Generator, py: np.ndarray, px: np.ndarray, cell: float
) -> np.ndarray:
    """Nearest-seed labels of points (py, px) for seeds jittered on a grid of pitch ``cell``.

    Points may lie up to one cell outside the image (warped coordinates).
    """
    h, w = py.shape
    ny, nx = int(math.ceil(h / cell)) + 5, int(math.ceil(w / cell)) + 5
    jy = rng.uniform(-0.4, 0.4, (ny, nx))
    jx = rng.uniform(-0.4, 0.4, (ny, nx))
    sy = ((np.arange(ny)[:, None] - 2 + 0.5 + jy) * cell).astype(F32).ravel()
    sx = ((np.arange(nx)[None, :] - 2 + 0.5 + jx) * cell).astype(F32).ravel()
    cj = np.clip(np.floor(py / F32(cell)).astype(np.int32) + 2, 1, ny - 2)
    ci = np.clip(np.floor(px / F32(cell)).astype(np.int32) + 2, 1, nx - 2)
    base = cj * nx + ci
    best = np.full((h, w), np.inf, F32)
    label = np.zeros((h, w), np.int32)
    for off in (-nx - 1, -nx, -nx + 1, -1, 0, 1, nx - 1, nx, nx + 1):
        idx = base + off
        d = (py - sy[idx]) ** 2 + (px - sx[idx]) ** 2
        better = d < best
        np.copyto(best, d, where=better)
        np.copyto(label, idx, where=better)
    return label


def _net_crack(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Map cracking: cell walls of a warped Voronoi diagram over an irregular region."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    cell = size * rng.uniform(0.09, 0.2)
    yy, xx = _grid(h, w)
    warp = F32(cell * rng.uniform(0.1, 0.22))
    jag = F32(rng.uniform(0.2, 0.45))
    py = (
        yy
        + _noise(rng, h, w, beta=3.0, res=4) * warp
        + _noise(rng, h, w, beta=2.0, cutoff=0.12) * jag * F32(2)
    )
    px = (
        xx
        + _noise(rng, h, w, beta=3.0, res=4) * warp
        + _noise(rng, h, w, beta=2.0, cutoff=0.12) * jag * F32(2)
    )
    lab = _voronoi_labels(rng, py, px, cell)
    drop = rng.random(4096) < rng.uniform(0.0, 0.25)  # some cell walls stay uncracked
    centre = np.zeros((h, w), bool)
    for a, b, view in (
        (lab[:-1, :], lab[1:, :], centre[:-1, :]),
        (lab[:, :-1], lab[:, 1:], centre[:, :-1]),
    ):
        key = (np.minimum(a, b) * 7919 + np.maximum(a, b) * 104729) % 4096
        view |= (a != b) & ~drop[key]
    if rng.random() < 0.3:
        fade = np.ones((h, w), F32)
    else:
        cy, cx = _pick_center(rng, h, w, region_dist, 0.2 * size)
        r = size * rng.uniform(0.3, 0.55)
        _, field = _blob(
            rng,
            h,
            w,
            (cy, cx),
            (r * rng.uniform(0.7, 1.0), r),
            rng.uniform(0, math.pi),
            0.25,
            0.0,
            largest=False,
        )
        fade = _smoothstep(1.0, 0.8, field)
    if region_dist is not None:
        fade *= region_dist > 0
    centre &= fade > 0
    # drop specks left over by the warp (tiny isolated wall pieces)
    lab_c, n = ndi.label(centre, structure=np.ones((3, 3), bool))
    if n:
        sizes = np.bincount(lab_c.ravel())
        sizes[0] = 0
        centre &= sizes[lab_c] >= 8
    canvas = _CrackCanvas(h, w)
    canvas.centre = centre
    canvas.half_width = np.clip(
        F32(rng.uniform(0.0, 0.8)) + F32(0.4) * _noise(rng, h, w, beta=2.5, res=4), 0, 1.2
    )
    depth = F32(rng.uniform(0.35, 0.6)) * (F32(0.5) + F32(0.5) * fade) + F32(0.08) * _noise(
        rng, h, w, beta=2.0, res=2
    )
    canvas.depth = np.clip(depth, 0.3, 0.8)
    return canvas.render(rgb, soft=0.6)


def _shade_relief(height: np.ndarray, light: float, strength: float) -> np.ndarray:
    gy, gx = np.gradient(height)
    return (gx * F32(math.cos(light)) + gy * F32(math.sin(light))) * F32(strength)


def _spall(
    rng: np.random.Generator,
    rgb: np.ndarray,
    region_dist: np.ndarray | None,
    scale: float,
    elongated: bool = False,
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """A spalled area (concrete broken off).  Returns (mask, long-axis angle, centre)."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    if elongated:  # along a bar: mostly horizontal or vertical
        r = size * rng.uniform(0.2, 0.34)
        angle = float(rng.choice([0.0, math.pi / 2])) + rng.normal(0, 0.12)
        radii = (r * rng.uniform(0.5, 0.8), r)
    else:
        r = size * rng.uniform(0.15, 0.33)
        angle = rng.uniform(0, math.pi)
        radii = (r * rng.uniform(0.55, 1.0), r)
    cy, cx = _pick_center(rng, h, w, region_dist, 0.6 * radii[0])
    mask, _ = _blob(
        rng,
        h,
        w,
        (cy, cx),
        radii,
        angle,
        roughness=rng.uniform(0.18, 0.35),
        edge=rng.uniform(0.03, 0.08),
    )
    if region_dist is not None:
        mask &= region_dist > 0
    inside = _inside_distance(mask)
    rim = F32(rng.uniform(2.0, 5.0) * max(scale, 0.6))
    depth = np.minimum(inside / rim, F32(1.0)) ** F32(0.7)
    # relief of the broken surface: coarse aggregate and fine roughness
    agg = _noise(rng, h, w, beta=1.0, cutoff=0.12 / scale)
    stones = _smoothstep(0.3, 0.9, agg)
    rough = _noise(rng, h, w, beta=1.6, cutoff=0.35)
    height = (stones * F32(2.0) + rough * F32(0.5)) * depth
    light = rng.uniform(0, 2 * math.pi)
    ly, lx = math.sin(light), math.cos(light)  # direction towards the light
    shade = _shade_relief(height, light, rng.uniform(0.08, 0.14))
    # the wall on the light's side casts a shadow into the cavity; the far wall is lit
    reach = max(2, int(round(rim * rng.uniform(0.8, 1.6))))
    shadow = np.zeros((h, w), F32)
    lit = np.zeros((h, w), F32)
    for k in range(1, reach + 1):
        dy, dx = int(round(-ly * k)), int(round(-lx * k))
        shadow += ~_shift(mask, dy, dx, False)  # neighbour towards the light is outside
        lit += ~_shift(mask, -dy, -dx, False)
    shadow = np.clip(shadow / F32(reach) * F32(1.5), 0, 1) * mask
    lit = np.clip(lit / F32(reach) * F32(1.5), 0, 1) * mask
    lum = rgb.mean(axis=-1)
    # the cavity is darker (shade, dirt) or, less often, lighter (fresh fracture)
    tone = F32(rng.uniform(0.07, 0.22) * (-1 if rng.random() < 0.8 else 0.6))
    stone_tone = _noise(rng, h, w, beta=2.0, cutoff=0.1 / scale) * F32(0.5) + F32(
        rng.uniform(-0.6, 0.8)
    )
    grit = _noise(rng, h, w, beta=0.6, cutoff=0.5)
    inner = (
        lum * (F32(1.0) + tone)
        + stones * stone_tone * F32(0.12)
        + rough * F32(0.05)
        + grit * F32(0.025)
        + shade
    )
    inner *= F32(1.0) - F32(rng.uniform(0.4, 0.65)) * shadow
    inner *= F32(1.0) - np.exp(-(((inside - F32(1.0)) / F32(1.0)) ** 2)) * F32(
        rng.uniform(0.15, 0.35)
    )
    inner += F32(rng.uniform(0.05, 0.12)) * lit * (F32(1.0) - shadow)
    warm = F32(rng.uniform(0.0, 0.05))
    target = np.empty((h, w, 3), F32)
    target[..., 0] = inner * (F32(1.0) + warm)
    target[..., 1] = inner
    target[..., 2] = inner * (F32(1.0) - warm)
    alpha = np.minimum(inside / F32(1.2), F32(1.0))
    _blend(rgb, np.clip(target, 0.0, 1.0), alpha)
    return mask, angle, (cy, cx)


def _spalling(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    return _spall(rng, rgb, region_dist, scale)[0]


def _exposed_rebar(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """A spalled area with one or two ribbed, rusty bars lying along it."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    mask, angle, (cy, cx) = _spall(rng, rgb, region_dist, scale, elongated=True)
    if not mask.any():
        return mask
    yy, xx = _grid(h, w)
    ca, sa = F32(math.cos(angle)), F32(math.sin(angle))
    along = (xx - F32(cx)) * ca + (yy - F32(cy)) * sa
    across = -(xx - F32(cx)) * sa + (yy - F32(cy)) * ca
    radius = size * rng.uniform(0.011, 0.02) * math.sqrt(max(scale, 0.7))
    ext = float(np.percentile(np.abs(across[mask]), 90))
    n_bars = 1 if rng.random() < 0.6 or ext < 4 * radius else 2
    if n_bars == 1:
        offsets = [rng.uniform(-0.3, 0.3) * ext]
    else:
        mid, gap = rng.uniform(-0.15, 0.15) * ext, rng.uniform(0.8, 1.2) * ext
        offsets = [mid - gap / 2, mid + gap / 2]
    base_col = np.array(
        [rng.uniform(0.30, 0.48), rng.uniform(0.16, 0.24), rng.uniform(0.08, 0.13)], F32
    )
    rust = _noise(rng, h, w, beta=1.5, cutoff=0.3)
    support = _max_shifts(mask, _CROSS)
    out = mask.copy()
    for off in offsets:
        d = (across - F32(off) - F32(rng.normal(0, 0.0004)) * along * along) / F32(radius)
        bar = (np.abs(d) < 1.0) & support
        if not bar.any():
            continue
        nz = np.sqrt(np.clip(F32(1.0) - d * d, 0.0, 1.0))  # cylinder normal
        period = radius * rng.uniform(1.2, 1.8)
        slant = rng.uniform(0.3, 0.8)
        ribs = _smoothstep(
            0.4, 0.9, np.cos((along + F32(slant * radius) * d) * F32(2 * math.pi / period))
        )
        shade = F32(0.45) + F32(0.55) * nz + F32(0.25) * np.clip(-d, 0, 1) * nz
        body = shade * (F32(1.0) - F32(0.3) * ribs) + F32(0.15) * rust
        col = base_col * body[..., None]
        col += (np.exp(-(((d + F32(0.35)) / F32(0.18)) ** 2)) * F32(0.12))[
            ..., None
        ]  # specular line
        # shadow of the bar on the floor of the spall, and rust bleeding onto it
        beside = (np.abs(d) >= 1.0) & mask
        shadow = (
            np.exp(-((np.maximum(d - F32(1.0), 0) / F32(0.8)) ** 2))
            * (d > 1.0)
            * beside
            * F32(0.45)
        )
        rgb *= (F32(1.0) - shadow)[..., None]
        stain = np.exp(-((np.maximum(np.abs(d) - F32(1.0), 0) / F32(2.5)) ** 2)) * beside
        stain = np.clip(stain * (F32(0.35) + F32(0.15) * rust), 0, 0.6).astype(F32)
        stain_col = np.array([0.45, 0.25, 0.1], F32) * (rgb.mean(axis=-1, keepdims=True) * F32(1.8))
        _blend(rgb, stain_col, stain)
        _blend(rgb, col, (_smoothstep(1.0, 0.8, np.abs(d)) * bar).astype(F32))
        out |= bar
    return out


def _drip(
    rng: np.random.Generator,
    h: int,
    w: int,
    xs: float,
    ys: float,
    half_width: float,
    length: float,
    streak_sigma: float,
) -> np.ndarray:
    """Run-off below a source at (ys, xs): streaks of varying length per column, max 1."""
    yy, _ = _grid(h, w)
    x = np.arange(w, dtype=F32)
    drift = _noise1d(rng, h, sigma=h / 8.0) * F32(rng.uniform(0.5, 3.0))  # streaks meander
    col_prof = np.exp(F32(-0.5) * ((x - F32(xs)) / F32(half_width)) ** 2)
    lens = F32(length) * (
        F32(0.2) + F32(0.8) * _smoothstep(-1.2, 1.2, _noise1d(rng, w, streak_sigma))
    )
    strength = col_prof * (
        F32(0.45) + F32(0.55) * _smoothstep(-1.0, 1.0, _noise1d(rng, w, streak_sigma))
    )
    xi = np.clip(np.rint(x[None, :] + drift[:, None]), 0, w - 1).astype(np.intp)
    dy = yy - F32(ys)
    fall = np.where(
        dy >= 0,
        np.exp(-np.maximum(dy, 0) / lens[xi]),
        np.exp(np.minimum(dy, 0) / F32(max(half_width * 0.3, 1.0))),
    )
    out = strength[xi] * fall
    return out / max(float(out.max()), 1e-6)


def _rust(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Orange-brown stains with run-off streaks below their sources (spots, or a row of spots
    along a corroding bar or a crack)."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    field = np.zeros((h, w), F32)
    core = np.zeros((h, w), F32)
    cy, cx = _pick_center(rng, h, w, region_dist, 0.12 * size)
    cy = min(cy, h * rng.uniform(0.2, 0.6))  # sources in the upper part, run-off below
    if rng.random() < 0.35:  # a row of sources along a bar / crack
        n = int(rng.integers(3, 7))
        ang = rng.normal(0, 0.15)
        span = size * rng.uniform(0.3, 0.7)
        ts = np.sort(rng.uniform(-0.5, 0.5, n)) * span
        sources = [(cy + t * math.sin(ang), cx + t * math.cos(ang)) for t in ts]
        radius = (0.012, 0.035)
    else:
        sources = [(cy, cx)]
        for _ in range(int(rng.integers(0, 3))):
            sources.append(_pick_center(rng, h, w, region_dist, 0.12 * size))
        radius = (0.02, 0.06)
    shared = (_noise(rng, h, w, beta=3.0, res=4), _noise(rng, h, w, beta=2.0, cutoff=0.25))
    for sy, sx in sources:
        sy = min(sy, h * 0.75)
        r = size * rng.uniform(*radius)
        ry = r * rng.uniform(0.5, 1.0)
        _, fb = _blob(
            rng,
            h,
            w,
            (sy, sx),
            (ry, r),
            rng.normal(0, 0.3),
            0.45,
            0.15,
            noises=shared,
            largest=False,
        )
        c = _smoothstep(1.4, 0.5, fb)
        drip = _drip(
            rng,
            h,
            w,
            sx,
            sy,
            r * rng.uniform(0.8, 1.6),
            size * rng.uniform(0.25, 0.8),
            rng.uniform(0.8, 2.5),
        )
        core = np.maximum(core, c)
        field = np.maximum(field, np.maximum(c, drip * F32(rng.uniform(0.8, 1.0))))
    texture = F32(0.8) + F32(0.2) * _noise(rng, h, w, beta=1.6, cutoff=0.3, stretch=(4.0, 1.0))
    alpha = np.clip(field * texture * F32(rng.uniform(0.8, 0.95)), 0, 0.92)
    if region_dist is not None:
        alpha *= region_dist > 0
    palette = np.array(
        [[0.62, 0.33, 0.12], [0.48, 0.23, 0.09], [0.56, 0.26, 0.12], [0.68, 0.40, 0.16]], F32
    )
    colour = palette[int(rng.integers(len(palette)))]
    lum = rgb.mean(axis=-1, keepdims=True)
    darker = F32(1.0) - F32(rng.uniform(0.2, 0.45)) * core[..., None]  # dark, dense cores
    target = colour * (F32(0.3) + lum) * darker
    _blend(rgb, np.clip(target, 0, 1), alpha)
    return _soft_mask(alpha, 0.3)


def _efflorescence(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Whitish, diffuse, streaky deposits: below a joint/crack line or as patches."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    yy, xx = _grid(h, w)
    if rng.random() < 0.5:  # along a joint or crack: a wavy line source with run-off below
        if region_dist is not None:
            y0, _ = _pick_center(rng, h, w, region_dist, 0.15 * size)
        else:
            y0 = rng.uniform(0.12, 0.55) * h
        line = F32(y0) + _noise1d(rng, w, w / 6.0) * F32(rng.uniform(2, 8))
        xa, xb = sorted(rng.uniform(-0.2, 1.2, 2) * w)
        xa, xb = min(xa, 0.5 * w), max(xb, 0.5 * w)
        if xb - xa < 0.4 * w:
            xa, xb = xa - 0.2 * w, xb + 0.2 * w
        ramp = _smoothstep(xa, xa + 0.12 * w, xx) * _smoothstep(xb, xb - 0.12 * w, xx)
        shape = F32(0.3) + F32(0.7) * _smoothstep(-1.2, 1.2, _noise1d(rng, w, rng.uniform(1, 4)))
        lens = F32(size * rng.uniform(0.15, 0.5)) * shape
        dy = yy - line[None, :]
        fall = np.where(
            dy >= 0,
            np.exp(-np.maximum(dy, 0) / lens[None, :]),
            np.exp(np.minimum(dy, 0) / F32(rng.uniform(2, 6))),
        )
        field = fall * ramp * (F32(0.5) + F32(0.5) * shape[None, :])
    else:  # diffuse patches with streaks
        field = np.zeros((h, w), F32)
        shared = (_noise(rng, h, w, beta=3.0, res=4), _noise(rng, h, w, beta=2.0, cutoff=0.25))
        for _ in range(int(rng.integers(1, 3))):
            cy, cx = _pick_center(rng, h, w, region_dist, 0.15 * size)
            r = size * rng.uniform(0.1, 0.25)
            _, fb = _blob(
                rng,
                h,
                w,
                (cy, cx),
                (r * rng.uniform(0.5, 1.0), r),
                rng.uniform(0, math.pi),
                0.45,
                0.12,
                noises=shared,
                largest=False,
            )
            patch = _smoothstep(1.4, 0.6, fb)
            drip = _drip(
                rng, h, w, cx, cy, r * 0.8, size * rng.uniform(0.2, 0.5), rng.uniform(1.0, 3.0)
            )
            field = np.maximum(field, np.maximum(patch, drip * F32(0.8)))
    field /= max(float(field.max()), 1e-6)
    streaks = _noise(rng, h, w, beta=1.5, stretch=(6.0, 1.0))  # vertical streakiness
    crystals = _noise(rng, h, w, beta=0.8, cutoff=0.3)
    texture = np.clip(F32(0.75) + F32(0.2) * streaks + F32(0.12) * crystals, 0.2, 1.2)
    alpha = np.clip(field * texture * F32(rng.uniform(0.8, 0.95)), 0, 0.95)
    if region_dist is not None:
        alpha *= region_dist > 0
    # salt deposits: white, brighter than the surface whatever its tone
    lum = rgb.mean(axis=-1, keepdims=True)
    white = np.clip(lum * F32(0.25) + F32(rng.uniform(0.75, 0.85)), 0, 1) * np.array(
        [1.0, 1.0, 0.97], F32
    )
    _blend(rgb, white, alpha)
    return _soft_mask(alpha, 0.3)


def _algae(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Dark green/black biological growth, patchy, strongest near an edge (wet zone)."""
    h, w = rgb.shape[:2]
    size = min(h, w)
    yy, xx = _grid(h, w)
    reach = size * rng.uniform(0.12, 0.3)
    if region_dist is not None:  # on a structure: from its lower boundary (splash zone) upwards
        inside = region_dist > 0
        rows = np.where(inside, yy, F32(-1)).max(axis=0)  # lowest structure pixel per column
        edge_d = np.where(rows[None, :] >= 0, rows[None, :] - yy, F32(size))
    else:
        side = rng.choice(["bottom", "bottom", "bottom", "top", "left", "right"])
        edge_d = {"bottom": F32(h - 1) - yy, "top": yy, "left": xx, "right": F32(w - 1) - xx}[side]
        if rng.random() < 0.15:  # sometimes a colony away from the edges
            cy, cx = _pick_center(rng, h, w, None, 0.3 * size)
            edge_d = np.sqrt((yy - F32(cy)) ** 2 + (xx - F32(cx)) ** 2)
    front = _noise(rng, h, w, beta=3.0, res=4) * F32(reach * 0.45)
    base = np.exp(-np.maximum(edge_d + front, 0) / F32(reach))
    patches = _noise(rng, h, w, beta=2.6, res=2) * F32(0.22) + _noise(
        rng, h, w, beta=1.6, cutoff=0.15
    ) * F32(0.1)
    field = base + patches
    alpha = _smoothstep(0.25, 0.7, field) * F32(rng.uniform(0.75, 0.95))
    dots = _smoothstep(2.2, 2.8, _noise(rng, h, w, beta=1.0, cutoff=0.25)) * (
        base > 0.25
    )  # small colonies
    alpha = np.maximum(alpha, dots * F32(0.8))
    if region_dist is not None:
        alpha *= region_dist > 0
    lum = rgb.mean(axis=-1, keepdims=True)
    mix = _smoothstep(-1.2, 1.2, _noise(rng, h, w, beta=2.0, res=2))[..., None]
    green = np.array([rng.uniform(0.12, 0.2), rng.uniform(0.2, 0.3), rng.uniform(0.06, 0.12)], F32)
    black = np.array([0.06, 0.07, 0.05], F32)
    colour = (green * mix + black * (F32(1.0) - mix)) * (F32(0.6) + F32(0.8) * lum)
    colour *= (F32(0.85) + F32(0.25) * _noise(rng, h, w, beta=1.0, cutoff=0.3))[..., None]
    _blend(rgb, np.clip(colour, 0, 1), alpha)
    return _soft_mask(alpha, 0.3)


def _pore_at(lum: np.ndarray, cy: float, cx: float, r: float) -> None:
    h, w = lum.shape
    y0, y1 = max(0, int(cy - r - 2)), min(h, int(cy + r + 3))
    x0, x1 = max(0, int(cx - r - 2)), min(w, int(cx + r + 3))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=F32)[:, None] - F32(cy)
    xx = np.arange(x0, x1, dtype=F32)[None, :] - F32(cx)
    d = np.sqrt(yy * yy + xx * xx) / F32(r)
    shade = F32(0.7) - F32(0.3) * np.clip(yy / F32(r), -1, 1)
    lum[y0:y1, x0:x1] *= F32(1.0) - F32(0.45) * _smoothstep(1.1, 0.8, d) * shade


def _no_defect(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Clean concrete; sometimes harmless distractors: a faint grey damp patch, tie holes."""
    h, w = rgb.shape[:2]
    if rng.random() < 0.3:
        cy, cx = _pick_center(rng, h, w, region_dist, 0.2 * min(h, w))
        r = min(h, w) * rng.uniform(0.15, 0.35)
        _, fb = _blob(
            rng,
            h,
            w,
            (cy, cx),
            (r, r * rng.uniform(0.8, 1.6)),
            rng.uniform(0, math.pi),
            0.4,
            largest=False,
        )
        rgb *= (F32(1.0) - _smoothstep(1.3, 0.5, fb) * F32(rng.uniform(0.04, 0.1)))[..., None]
    if rng.random() < 0.25:  # a row of formwork tie holes
        factor = np.ones((h, w), F32)
        y = rng.uniform(0.2, 0.8) * h
        gap = rng.uniform(0.25, 0.45) * w
        for x in np.arange(rng.uniform(0, gap), w, gap):
            _pore_at(factor, y, x, rng.uniform(2.5, 4.5) * scale)
        rgb *= factor[..., None]
    return np.zeros((h, w), bool)


_DEFECTS: dict[str, Callable[..., np.ndarray]] = {
    "crack": _crack,
    "net_crack": _net_crack,
    "spalling": _spalling,
    "exposed_rebar": _exposed_rebar,
    "rust": _rust,
    "efflorescence": _efflorescence,
    "algae": _algae,
    "no_defect": _no_defect,
}


def _min_pixels(cls: str, h: int, w: int) -> int:
    if cls == "no_defect":
        return 0
    if cls == "crack":
        return max(6, int(0.0015 * h * w))
    if cls == "net_crack":
        return max(10, int(0.004 * h * w))
    return max(12, int(0.015 * h * w))


# --------------------------------------------------------------------------------------------
# scenes: a concrete structure in front of a background
# --------------------------------------------------------------------------------------------


def _sky(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, _ = _grid(h, w)
    t = (yy / F32(h))[..., None]
    r = rng.uniform(0.2, 0.45)
    top = np.array([r, r + rng.uniform(0.12, 0.25), rng.uniform(0.75, 0.95)], F32)
    bottom = np.array([0.78, 0.84, 0.92], F32) * F32(rng.uniform(0.9, 1.05))
    rgb = top * (F32(1.0) - t) + bottom * t
    clouds = _smoothstep(
        rng.uniform(-0.5, 0.8), 1.8, _noise(rng, h, w, beta=3.2, stretch=(1.0, 1.8))
    )
    _blend(
        rgb,
        np.array([0.95, 0.95, 0.96], F32) * F32(rng.uniform(0.85, 1.0)),
        clouds * F32(rng.uniform(0.5, 0.95)),
    )
    return rgb


def _water(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, _ = _grid(h, w)
    r = rng.uniform(0.08, 0.22)
    base = np.array([r, r + rng.uniform(0.06, 0.15), r + rng.uniform(0.08, 0.18)], F32)
    ripples = _noise(rng, h, w, beta=2.0, stretch=(1.0, 8.0))  # long horizontal ripples
    lum = F32(1.0) + F32(0.18) * ripples + F32(0.2) * (yy / F32(h))
    rgb = base * lum[..., None]
    glint = _smoothstep(1.6, 2.6, ripples) * F32(rng.uniform(0.3, 0.7))
    _blend(rgb, np.array([0.85, 0.88, 0.9], F32), glint)
    return rgb


def _vegetation(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = _texture_patch(rng, "grass", h, w, zoom=rng.uniform(0.4, 1.0))
    leaves = _noise(rng, h, w, beta=1.6, cutoff=0.2)
    lum = (
        F32(0.6) * tex
        + F32(0.25)
        + F32(0.1) * leaves
        + F32(0.12) * _noise(rng, h, w, beta=3.0, res=4)
    )
    green = np.array(
        [rng.uniform(0.18, 0.35), rng.uniform(0.32, 0.48), rng.uniform(0.08, 0.16)], F32
    )
    return green * np.clip(lum, 0.05, 1.4)[..., None] * F32(rng.uniform(0.8, 1.2))


def _gravel(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = _texture_patch(rng, "gravel", h, w, zoom=rng.uniform(0.3, 0.8))
    tint = np.array([1.0, rng.uniform(0.92, 1.0), rng.uniform(0.8, 0.95)], F32)
    return (F32(0.15) + F32(0.7) * tex)[..., None] * tint * F32(rng.uniform(0.7, 1.0))


def _stone_wall(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tex = _texture_patch(rng, "brick", h, w, zoom=rng.uniform(0.35, 0.9))
    tint = np.array([[0.75, 0.45, 0.35], [0.6, 0.55, 0.5], [0.7, 0.6, 0.45]], F32)[
        int(rng.integers(3))
    ]
    lum = F32(0.3) + F32(0.8) * tex + F32(0.08) * _noise(rng, h, w, beta=2.5, res=2)
    return lum[..., None] * tint


_BACKGROUNDS = {
    "water": _water,
    "sky": _sky,
    "vegetation": _vegetation,
    "gravel": _gravel,
    "stone_wall": _stone_wall,
}


def _background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    if rng.random() < 0.45:  # horizon: sky (or vegetation) above, water/gravel/vegetation below
        upper = "sky" if rng.random() < 0.7 else "vegetation"
        lower = ["water", "gravel", "vegetation"][int(rng.integers(3))]
        if lower == upper:
            lower = "water"
        yy, xx = _grid(h, w)
        horizon = F32(rng.uniform(0.3, 0.7) * h) + F32(rng.normal(0, 0.05)) * (xx - F32(w / 2))
        if "vegetation" in (upper, lower):
            horizon = horizon + _noise1d(rng, w, w / 15.0)[None, :] * F32(h * 0.03)
        a = _smoothstep(-1.0, 1.0, yy - horizon)[..., None]
        rgb = _BACKGROUNDS[upper](rng, h, w) * (F32(1.0) - a) + _BACKGROUNDS[lower](rng, h, w) * a
        return rgb, f"{upper}+{lower}"
    name = list(_BACKGROUNDS)[int(rng.integers(len(_BACKGROUNDS)))]
    return _BACKGROUNDS[name](rng, h, w), name


def _structure(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Foreground mask of a wall / pier / deck, and a shading factor (H, W) for it."""
    yy, xx = _grid(h, w)
    kind = ["wall", "pier", "deck"][int(rng.integers(3))]
    shade = np.ones((h, w), F32)
    if kind == "wall":
        fg = np.ones((h, w), bool)
        edges = rng.choice(["top", "side", "top+side", "bottom"], p=[0.4, 0.25, 0.2, 0.15])
        if "top" in edges:
            fg &= yy > F32(rng.uniform(0.15, 0.4) * h) + F32(rng.normal(0, 0.12)) * (
                xx - F32(w / 2)
            )
        if "side" in edges:
            x0 = rng.uniform(0.6, 0.85) * w
            if rng.random() < 0.5:
                fg &= xx < F32(x0) + F32(rng.normal(0, 0.08)) * yy
            else:
                fg &= xx > F32(w - x0) + F32(rng.normal(0, 0.08)) * yy
        if edges == "bottom":
            fg &= yy < F32(rng.uniform(0.6, 0.85) * h) + F32(rng.normal(0, 0.05)) * (
                xx - F32(w / 2)
            )
        shade = F32(1.0) + F32(rng.normal(0, 0.1)) * (xx / F32(w) - F32(0.5))
    elif kind == "pier":
        xc = rng.uniform(0.35, 0.65) * w
        half = rng.uniform(0.2, 0.33) * w
        taper = rng.uniform(-0.08, 0.08)
        lean = rng.normal(0, 0.03)
        hw_y = F32(half) * (F32(1.0) + F32(taper) * (yy / F32(h) - F32(0.5)))
        u = (xx - F32(xc) - F32(lean) * (yy - F32(h / 2))) / hw_y
        fg = np.abs(u) < 1.0
        if rng.random() < 0.5:  # waterline / ground at the bottom
            fg &= yy < F32(rng.uniform(0.8, 0.95) * h)
        if rng.random() < 0.5:  # round pier: cylinder shading; else a flat face with a darker side
            shade = F32(0.65) + F32(0.45) * np.sqrt(np.clip(F32(1.0) - (u + F32(0.3)) ** 2, 0, 1))
        else:
            shade = np.where(u > F32(rng.uniform(0.3, 0.7)), F32(0.75), F32(1.0))
    else:  # deck: slab at the top, maybe a pier below
        y1 = rng.uniform(0.45, 0.7) * h
        edge = F32(y1) + F32(rng.normal(0, 0.08)) * (xx - F32(w / 2))
        fg = yy < edge
        if rng.random() < 0.6:  # the lower part of the slab edge is in shadow
            shade = np.where(yy > edge - F32(rng.uniform(0.1, 0.25) * h), F32(0.72), F32(1.0))
        if rng.random() < 0.5:
            xc, half = rng.uniform(0.3, 0.7) * w, rng.uniform(0.1, 0.18) * w
            fg |= np.abs(xx - F32(xc)) < F32(half)
    if not 0.2 <= fg.mean() <= 0.9:  # keep both structure and background visible
        fg = np.abs(xx - F32(w / 2)) < F32(w * 0.3)
        shade = np.ones((h, w), F32)
    return fg, shade.astype(F32), kind


def _region_distance(fg: np.ndarray) -> np.ndarray:
    """Approximate distance to the outside of ``fg`` (half resolution; > 0 exactly on fg)."""
    small = fg[::2, ::2]
    d = ndi.distance_transform_edt(np.pad(small, 1))[1:-1, 1:-1].astype(F32) * F32(2.0)
    d = np.repeat(np.repeat(d, 2, axis=0), 2, axis=1)[: fg.shape[0], : fg.shape[1]]
    return np.where(fg, np.maximum(d, F32(0.5)), F32(0.0))


# --------------------------------------------------------------------------------------------
# camera
# --------------------------------------------------------------------------------------------


def _camera(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """Lighting gradient, vignetting, exposure, blur, sensor noise, JPEG -> uint8."""
    h, w = rgb.shape[:2]
    yy, xx = _grid(h, w)
    a = rng.uniform(0, 2 * math.pi)
    g = rng.uniform(0.0, 0.35)
    u, v = xx / F32(w) - F32(0.5), yy / F32(h) - F32(0.5)
    light = F32(1.0) + (u * F32(math.cos(a)) + v * F32(math.sin(a))) * F32(g)
    light *= F32(1.0) - F32(rng.uniform(0.0, 0.7)) * (u * u + v * v)
    if rng.random() < 0.12:  # a soft cast shadow across the frame (a distractor, not a defect)
        b = rng.uniform(0, 2 * math.pi)
        proj = (xx - F32(w / 2)) * F32(math.cos(b)) + (yy - F32(h / 2)) * F32(math.sin(b))
        off = rng.uniform(-0.3, 0.3) * min(h, w)
        light *= F32(1.0) - F32(rng.uniform(0.2, 0.45)) * _smoothstep(off - 6, off + 6, proj)
    light *= F32(rng.uniform(0.85, 1.15))
    rgb = rgb * light[..., None]
    np.clip(rgb, 0.0, 1.0, out=rgb)
    gamma = rng.uniform(0.85, 1.15)
    if abs(gamma - 1.0) > 0.02:
        rgb **= F32(gamma)
    if rng.random() < 0.5:
        s = rng.uniform(0.3, 1.1)
        rgb = ndi.gaussian_filter(rgb, (s, s, 0))
    sigma = F32(rng.uniform(0.003, 0.02))
    rgb += (rng.standard_normal((h, w), dtype=F32) * sigma)[..., None]
    out = (np.clip(rgb, 0.0, 1.0) * F32(255.0) + F32(0.5)).astype(np.uint8)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(40, 92)))
        buf.seek(0)
        out = np.asarray(Image.open(buf).convert("RGB"))
    return out


# --------------------------------------------------------------------------------------------
# one sample
# --------------------------------------------------------------------------------------------


def render_sample(
    cls: str, rng: np.random.Generator, size: int = 256, scenes: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Render one image of class ``cls`` with the generator ``rng``.

    Returns ``(image uint8 (H, W, 3), mask bool (H, W), foreground bool (H, W) or None)``:
    the mask marks the defect pixels (empty for ``no_defect``), the foreground the concrete
    structure (``scenes=True`` only, else None).
    """
    if cls not in _DEFECTS:
        raise ValueError(f"unknown class {cls!r}; known: {', '.join(DEFECT_CLASSES)}")
    size = int(size)
    if size < 16:
        raise ValueError("size must be at least 16")
    h = w = size
    defect = _DEFECTS[cls]
    if scenes:
        fg, shade, _ = _structure(rng, h, w)
        region_dist = _region_distance(fg)
        scale = rng.uniform(0.45, 1.0)
    else:
        fg = shade = region_dist = None
        scale = float(np.exp(rng.uniform(math.log(0.6), math.log(1.6))))
    rgb = _colourise(rng, _concrete(rng, h, w, scale))
    need = _min_pixels(cls, h, w)
    for _attempt in range(8):  # redraw the defect if it came out too small to see
        trial = rgb.copy()
        mask = defect(rng, trial, region_dist, scale)
        if fg is not None:
            mask &= fg
        if int(mask.sum()) >= need:
            break
    rgb = trial
    if scenes:
        bg, _ = _background(rng, h, w)
        rgb *= shade[..., None]
        alpha = ndi.gaussian_filter(fg.astype(F32), 0.6)[..., None]
        rgb = rgb * alpha + bg * (F32(1.0) - alpha)
    image = _camera(rng, rgb)
    return image, mask.astype(bool), fg


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------


def sample_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of class ``cls``: independent of N and other classes."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, DEFECT_CLASSES.index(cls), int(index)])
    )


def sample_name(cls: str, seed: int, index: int) -> str:
    return f"{cls}_s{seed}_{index:05d}"


def _save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=3)


def _write_one(job: tuple[str, str, int, int, int, bool, str]) -> None:
    out, cls, index, seed, size, scenes, name = job
    root = Path(out)
    image, mask, fg = render_sample(cls, sample_rng(seed, cls, index), size=size, scenes=scenes)
    _save_png(root / "images" / cls / f"{name}.png", image)
    _save_png(root / "masks" / cls / f"{name}.png", (mask.astype(np.uint8) * 255))
    if fg is not None:
        _save_png(root / "foreground" / cls / f"{name}.png", (fg.astype(np.uint8) * 255))


def _remove_previous(root: Path) -> None:
    """Delete the files listed by a previous synth manifest (and nothing else)."""
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return
    try:
        old = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(old, dict) or old.get("generator") != "model_zoo.data.synth":
        return
    for entry in old.get("samples", []):
        for key in ("image", "mask", "foreground"):
            rel = entry.get(key) if isinstance(entry, dict) else None
            if (
                isinstance(rel, str)
                and not rel.startswith(("/", ".."))
                and ".." not in Path(rel).parts
            ):
                (root / rel).unlink(missing_ok=True)
    for folder in ("images", "masks", "foreground"):
        for cls in DEFECT_CLASSES:
            with contextlib.suppress(OSError):  # only succeeds when empty
                (root / folder / cls).rmdir()


def generate_dataset(
    out_dir: str | Path,
    n: int,
    classes: Sequence[str] | str | None = None,
    imbalance: str = "uniform",
    size: int = 256,
    seed: int = 0,
    scenes: bool = False,
    image_url_prefix: str | None = None,
    *,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Write ``n`` synthetic images with masks, ``tasks.json`` and ``manifest.json`` to
    ``out_dir`` (layout in the module doc) and return the manifest.

    Files listed by a previous manifest in ``out_dir`` are removed first, so a re-run with a
    smaller ``n`` leaves no stale images.  ``workers`` > 1 renders in worker processes (same
    bytes as with one).
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    size = int(size)
    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")
    class_list = parse_classes(classes)
    weights = parse_imbalance(imbalance, class_list)
    counts = allocate_counts(n, weights)
    root = Path(out_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    if image_url_prefix is None:
        image_url_prefix = f"{_IMAGE_URL_ROOT}{root.resolve().name}/"
    _remove_previous(root)
    for cls in class_list:
        if counts[cls]:
            (root / "images" / cls).mkdir(parents=True, exist_ok=True)
            (root / "masks" / cls).mkdir(parents=True, exist_ok=True)
            if scenes:
                (root / "foreground" / cls).mkdir(parents=True, exist_ok=True)

    jobs = []
    samples = []
    tasks = []
    for cls in class_list:
        for i in range(counts[cls]):
            name = sample_name(cls, seed, i)
            jobs.append((str(root), cls, i, int(seed), size, bool(scenes), name))
            image_rel = f"images/{cls}/{name}.png"
            entry = {
                "name": name,
                "class": cls,
                "index": i,
                "image": image_rel,
                "mask": f"masks/{cls}/{name}.png",
            }
            if scenes:
                entry["foreground"] = f"foreground/{cls}/{name}.png"
            samples.append(entry)
            tasks.append({"data": {"image": image_url_prefix + image_rel, "class": cls}})

    manifest = {
        "generator": "model_zoo.data.synth",
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "n": n,
        "size": size,
        "scenes": bool(scenes),
        "classes": class_list,
        "class_titles": {c: CLASS_TITLES[c] for c in class_list},
        "imbalance": imbalance or "uniform",
        "weights": {c: round(weights[c], 6) for c in class_list},
        "counts": counts,
        "image_url_prefix": image_url_prefix,
        "layout": {
            "images": "images/<class>/<name>.png",
            "masks": "masks/<class>/<name>.png (0/255, empty for no_defect)",
            **(
                {"foreground": "foreground/<class>/<name>.png (0/255 structure mask)"}
                if scenes
                else {}
            ),
            "tasks": "tasks.json",
        },
        "samples": samples,
    }
    # The manifest is written first (incomplete), so that an interrupted run still lists its
    # files for the next run to clean up; tasks.json only once every image is there.
    (root / "tasks.json").unlink(missing_ok=True)
    (root / "manifest.json").write_text(
        json.dumps({**manifest, "complete": False}, indent=1) + "\n"
    )

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="synth", unit="img", disable=not progress, file=sys.stderr)
    try:
        if workers > 1 and len(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=int(workers)) as pool:
                for _ in pool.map(_write_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
                    bar.update(1)
        else:
            for job in jobs:
                _write_one(job)
                bar.update(1)
    finally:
        bar.close()

    manifest["complete"] = True
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (root / "tasks.json").write_text(json.dumps(tasks, indent=1) + "\n")
    return manifest


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument(
        "--classes",
        default=None,
        help="comma-separated classes (default: all): " + ",".join(DEFECT_CLASSES),
    )
    parser.add_argument(
        "--imbalance",
        default="uniform",
        help="class balance: 'uniform' (default), 'rare:CLASS[,CLASS]=FRACTION' "
        "(those classes share FRACTION of the images) or 'crack=0.3,no_defect=0.5,...' "
        "(weights, normalised; classes not named get none)",
    )
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--scenes",
        action="store_true",
        help="render structures (wall/pier/deck) in front of a background, and write "
        "foreground/<class>/<name>.png masks of the structure",
    )
    parser.add_argument(
        "--image-url-prefix",
        default=None,
        help="prefix of the image URLs in tasks.json (default: /data/local-files/?d=<out dir name>/)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        manifest = generate_dataset(
            args.out,
            args.n,
            classes=args.classes,
            imbalance=args.imbalance,
            size=args.size,
            seed=args.seed,
            scenes=args.scenes,
            image_url_prefix=args.image_url_prefix,
            workers=max(1, int(getattr(args, "workers", 1) or 1)),
            progress=not getattr(args, "quiet", False),
        )
    except ValueError as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    counts = ", ".join(f"{c} {k}" for c, k in manifest["counts"].items() if k)
    per = 1000.0 * elapsed / max(manifest["n"], 1)
    kind = "scenes" if manifest["scenes"] else "images"
    print(
        f"synth: wrote {manifest['n']} {kind} ({counts}) of {manifest['size']}px to "
        f"{Path(args.out).expanduser().resolve()} in {elapsed:.1f} s ({per:.0f} ms/image)"
    )
    return 0
