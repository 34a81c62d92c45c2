"""Synthetic data: the concrete surface (pores, formwork marks, colour)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from model_zoo.data.synth_noise import F32, _noise, _smoothstep, _texture_patch

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
