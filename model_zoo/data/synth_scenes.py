"""Synthetic data: a concrete structure in front of a background (``--scenes``)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from model_zoo.data.synth_noise import (
    F32,
    _blend,
    _grid,
    _noise,
    _noise1d,
    _smoothstep,
    _texture_patch,
)

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
