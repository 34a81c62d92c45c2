"""Synthetic data: rebar, drips, rust, efflorescence, algae and clean concrete, and the
registry of every defect renderer (``_DEFECTS``); each modifies ``rgb`` in place and returns
its mask."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from model_zoo.data.synth_cracks import _crack, _net_crack, _spall, _spalling
from model_zoo.data.synth_noise import (
    _CROSS,
    F32,
    _blend,
    _blob,
    _grid,
    _max_shifts,
    _noise,
    _noise1d,
    _pick_center,
    _random_patch,
    _smoothstep,
    _soft_mask,
    _stain_alpha,
)

# --------------------------------------------------------------------------------------------
# defects: each modifies rgb in place and returns the bool mask of the defect
# --------------------------------------------------------------------------------------------


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
    sources, radius = _rust_sources(rng, h, w, region_dist)
    field, core = _rust_field(rng, h, w, sources, radius)
    texture = F32(0.8) + F32(0.2) * _noise(rng, h, w, beta=1.6, cutoff=0.3, stretch=(4.0, 1.0))
    alpha = _stain_alpha(rng, field, texture, region_dist, 0.92)
    palette = np.array(
        [[0.62, 0.33, 0.12], [0.48, 0.23, 0.09], [0.56, 0.26, 0.12], [0.68, 0.40, 0.16]], F32
    )
    colour = palette[int(rng.integers(len(palette)))]
    lum = rgb.mean(axis=-1, keepdims=True)
    darker = F32(1.0) - F32(rng.uniform(0.2, 0.45)) * core[..., None]  # dark, dense cores
    target = colour * (F32(0.3) + lum) * darker
    _blend(rgb, np.clip(target, 0, 1), alpha)
    return _soft_mask(alpha, 0.3)


def _rust_sources(
    rng: np.random.Generator, h: int, w: int, region_dist: np.ndarray | None
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Where the rust comes from (in the upper part, run-off below) and the range of the
    sources' radii (a fraction of the image side)."""
    size = min(h, w)
    cy, cx = _pick_center(rng, h, w, region_dist, 0.12 * size)
    cy = min(cy, h * rng.uniform(0.2, 0.6))
    if rng.random() < 0.35:  # a row of sources along a bar / crack
        n = int(rng.integers(3, 7))
        ang = rng.normal(0, 0.15)
        span = size * rng.uniform(0.3, 0.7)
        ts = np.sort(rng.uniform(-0.5, 0.5, n)) * span
        return [(cy + t * math.sin(ang), cx + t * math.cos(ang)) for t in ts], (0.012, 0.035)
    sources = [(cy, cx)]
    for _ in range(int(rng.integers(0, 3))):
        sources.append(_pick_center(rng, h, w, region_dist, 0.12 * size))
    return sources, (0.02, 0.06)


def _rust_field(
    rng: np.random.Generator,
    h: int,
    w: int,
    sources: list[tuple[float, float]],
    radius: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """(stain field, dense cores): a blob per source and its drip."""
    size = min(h, w)
    field = np.zeros((h, w), F32)
    core = np.zeros((h, w), F32)
    shared = (_noise(rng, h, w, beta=3.0, res=4), _noise(rng, h, w, beta=2.0, cutoff=0.25))
    for sy, sx in sources:
        sy = min(sy, h * 0.75)
        r = size * rng.uniform(*radius)
        ry = r * rng.uniform(0.5, 1.0)
        angle = rng.normal(0, 0.3)
        _, fb = _blob(rng, h, w, (sy, sx), (ry, r), angle, 0.45, 0.15, noises=shared, largest=False)
        c = _smoothstep(1.4, 0.5, fb)
        run = r * rng.uniform(0.8, 1.6)
        drop = size * rng.uniform(0.25, 0.8)
        drip = _drip(rng, h, w, sx, sy, run, drop, rng.uniform(0.8, 2.5))
        core = np.maximum(core, c)
        field = np.maximum(field, np.maximum(c, drip * F32(rng.uniform(0.8, 1.0))))
    return field, core


def _efflorescence(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    """Whitish, diffuse, streaky deposits: below a joint/crack line or as patches."""
    h, w = rgb.shape[:2]
    if rng.random() < 0.5:  # along a joint or crack: a wavy line source with run-off below
        field = _line_deposit(rng, h, w, region_dist)
    else:  # diffuse patches with streaks
        field = _patch_deposits(rng, h, w, region_dist)
    field /= max(float(field.max()), 1e-6)
    streaks = _noise(rng, h, w, beta=1.5, stretch=(6.0, 1.0))  # vertical streakiness
    crystals = _noise(rng, h, w, beta=0.8, cutoff=0.3)
    texture = np.clip(F32(0.75) + F32(0.2) * streaks + F32(0.12) * crystals, 0.2, 1.2)
    alpha = _stain_alpha(rng, field, texture, region_dist, 0.95)
    # salt deposits: white, brighter than the surface whatever its tone
    lum = rgb.mean(axis=-1, keepdims=True)
    white = np.clip(lum * F32(0.25) + F32(rng.uniform(0.75, 0.85)), 0, 1) * np.array(
        [1.0, 1.0, 0.97], F32
    )
    _blend(rgb, white, alpha)
    return _soft_mask(alpha, 0.3)


def _line_deposit(
    rng: np.random.Generator, h: int, w: int, region_dist: np.ndarray | None
) -> np.ndarray:
    """A wavy line source across part of the width, with run-off below it."""
    size = min(h, w)
    yy, xx = _grid(h, w)
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
    return fall * ramp * (F32(0.5) + F32(0.5) * shape[None, :])


def _patch_deposits(
    rng: np.random.Generator, h: int, w: int, region_dist: np.ndarray | None
) -> np.ndarray:
    """One or two diffuse patches, each with a drip below it."""
    size = min(h, w)
    field = np.zeros((h, w), F32)
    shared = (_noise(rng, h, w, beta=3.0, res=4), _noise(rng, h, w, beta=2.0, cutoff=0.25))
    for _ in range(int(rng.integers(1, 3))):
        fb, (cy, cx), r = _random_patch(
            rng, h, w, region_dist, 0.15 * size, (0.1, 0.25), (0.5, 1.0), 0.45, 0.12, shared
        )
        patch = _smoothstep(1.4, 0.6, fb)
        drop = size * rng.uniform(0.2, 0.5)
        drip = _drip(rng, h, w, cx, cy, r * 0.8, drop, rng.uniform(1.0, 3.0))
        field = np.maximum(field, np.maximum(patch, drip * F32(0.8)))
    return field


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
