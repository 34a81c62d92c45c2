"""Synthetic data: cracks, net cracks and spalling; each modifies ``rgb`` in place and returns
its mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from model_zoo.data.synth_noise import (
    _CROSS,
    _FAR,
    _HALF,
    _RING,
    F32,
    _bbox,
    _blend,
    _blob,
    _grid,
    _inside_distance,
    _max_shifts,
    _noise,
    _noise1d,
    _pick_center,
    _random_patch,
    _shift,
    _smoothstep,
)

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


@dataclass(frozen=True)
class KnownCrack:
    """A crack mask with its true geometry: ``width`` px across everywhere, ``length`` px
    from tip to tip along its centreline (the centreline's arc length plus the two
    half-width round tips)."""

    mask: np.ndarray
    width: float
    length: float


def crack_of_width(rng: np.random.Generator, size: int, width: float) -> KnownCrack:
    """A single crack of constant ``width`` on a ``size`` x ``size`` image: the generator's
    crack path (a midpoint-displacement polyline), smoothed over about one width so that the
    band has a well-defined width (no bend tighter than the crack is wide), then every pixel
    whose centre is within ``width / 2`` of the path. For testing measurements."""
    from scipy.spatial import cKDTree

    if width <= 0 or size < 16:
        raise ValueError("width must be > 0 and size >= 16")
    theta = rng.uniform(0, math.pi)
    u = np.array([math.sin(theta), math.cos(theta)])
    centre = np.array([size / 2.0, size / 2.0])
    half = size * rng.uniform(0.25, 0.35)
    pts = _fractal_polyline(rng, centre - u * half, centre + u * half, rough=rng.uniform(0.1, 0.2))
    dense, _ = _densify(pts, 0.25)
    dense = ndi.gaussian_filter1d(dense, 4.0 * max(width, 2.0), axis=0, mode="nearest")
    margin = width / 2.0 + 2.0
    reach = np.abs(dense - centre).max()
    if reach > size / 2.0 - margin:  # keep it inside the image (a uniform scaling)
        dense = centre + (dense - centre) * ((size / 2.0 - margin) / reach)
    yy, xx = _grid(size, size)
    dist, _ = cKDTree(dense).query(np.stack([yy.ravel(), xx.ravel()], axis=1))
    mask = dist.reshape(size, size) <= width / 2.0
    arc = float(np.hypot(*np.diff(dense, axis=0).T).sum())
    return KnownCrack(mask=mask, width=float(width), length=arc + float(width))


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
    centre = _cell_walls(rng, h, w)
    if rng.random() < 0.3:
        fade = np.ones((h, w), F32)
    else:
        size = min(h, w)
        field, _, _ = _random_patch(
            rng, h, w, region_dist, 0.2 * size, (0.3, 0.55), (0.7, 1.0), 0.25, 0.0
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


def _cell_walls(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """The walls between the cells of a warped, jagged Voronoi diagram, some left out."""
    cell = min(h, w) * rng.uniform(0.09, 0.2)
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
    return centre


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
    mask, angle, (cy, cx) = _spall_outline(rng, h, w, region_dist, elongated)
    inside = _inside_distance(mask)
    rim = F32(rng.uniform(2.0, 5.0) * max(scale, 0.6))
    depth = np.minimum(inside / rim, F32(1.0)) ** F32(0.7)
    # relief of the broken surface: coarse aggregate and fine roughness
    agg = _noise(rng, h, w, beta=1.0, cutoff=0.12 / scale)
    stones = _smoothstep(0.3, 0.9, agg)
    rough = _noise(rng, h, w, beta=1.6, cutoff=0.35)
    height = (stones * F32(2.0) + rough * F32(0.5)) * depth
    light = rng.uniform(0, 2 * math.pi)
    shade = _shade_relief(height, light, rng.uniform(0.08, 0.14))
    shadow, lit = _cavity_light(rng, mask, light, rim)
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
    target = np.stack([inner * (F32(1.0) + warm), inner, inner * (F32(1.0) - warm)], axis=-1)
    alpha = np.minimum(inside / F32(1.2), F32(1.0))
    _blend(rgb, np.clip(target, 0.0, 1.0), alpha)
    return mask, angle, (cy, cx)


def _spall_outline(
    rng: np.random.Generator,
    h: int,
    w: int,
    region_dist: np.ndarray | None,
    elongated: bool,
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """(mask, long-axis angle, centre) of the broken-off area; ``elongated``: along a bar,
    mostly horizontal or vertical."""
    size = min(h, w)
    if elongated:
        r = size * rng.uniform(0.2, 0.34)
        angle = float(rng.choice([0.0, math.pi / 2])) + rng.normal(0, 0.12)
        radii = (r * rng.uniform(0.5, 0.8), r)
    else:
        r = size * rng.uniform(0.15, 0.33)
        angle = rng.uniform(0, math.pi)
        radii = (r * rng.uniform(0.55, 1.0), r)
    cy, cx = _pick_center(rng, h, w, region_dist, 0.6 * radii[0])
    roughness, edge = rng.uniform(0.18, 0.35), rng.uniform(0.03, 0.08)
    mask, _ = _blob(rng, h, w, (cy, cx), radii, angle, roughness=roughness, edge=edge)
    if region_dist is not None:
        mask &= region_dist > 0
    return mask, angle, (cy, cx)


def _cavity_light(
    rng: np.random.Generator, mask: np.ndarray, light: float, rim: float
) -> tuple[np.ndarray, np.ndarray]:
    """(shadow, lit) in the cavity: the wall on the light's side casts a shadow into it; the
    far wall is lit."""
    h, w = mask.shape
    ly, lx = math.sin(light), math.cos(light)  # direction towards the light
    reach = max(2, int(round(rim * rng.uniform(0.8, 1.6))))
    shadow = np.zeros((h, w), F32)
    lit = np.zeros((h, w), F32)
    for k in range(1, reach + 1):
        dy, dx = int(round(-ly * k)), int(round(-lx * k))
        shadow += ~_shift(mask, dy, dx, False)  # neighbour towards the light is outside
        lit += ~_shift(mask, -dy, -dx, False)
    shadow = np.clip(shadow / F32(reach) * F32(1.5), 0, 1) * mask
    lit = np.clip(lit / F32(reach) * F32(1.5), 0, 1) * mask
    return shadow, lit


def _spalling(
    rng: np.random.Generator, rgb: np.ndarray, region_dist: np.ndarray | None, scale: float
) -> np.ndarray:
    return _spall(rng, rgb, region_dist, scale)[0]
