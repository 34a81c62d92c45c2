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

import contextlib
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from model_zoo.data.dataset import CLASS_TITLES, DEFECT_CLASSES
from model_zoo.data.synth_classes import allocate_counts, parse_classes, parse_imbalance
from model_zoo.data.synth_cracks import KnownCrack, crack_of_width
from model_zoo.data.synth_defects import _DEFECTS, _min_pixels
from model_zoo.data.synth_noise import F32, _grid, _smoothstep
from model_zoo.data.synth_scenes import _background, _region_distance, _structure
from model_zoo.data.synth_surface import _colourise, _concrete

__all__ = [
    "CLASS_TITLES",
    "DEFECT_CLASSES",
    "KnownCrack",
    "allocate_counts",
    "crack_of_width",
    "generate_dataset",
    "parse_classes",
    "parse_imbalance",
    "render_sample",
    "sample_name",
    "sample_rng",
]

FORMAT_VERSION = 1
_IMAGE_URL_ROOT = "/data/local-files/?d="


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


@dataclass(frozen=True)
class _SampleJob:
    """One image to render and write (picklable: worker processes take them)."""

    out: str
    cls: str
    index: int
    seed: int
    size: int
    scenes: bool
    name: str


def _write_one(job: _SampleJob) -> None:
    root = Path(job.out)
    rng = sample_rng(job.seed, job.cls, job.index)
    image, mask, fg = render_sample(job.cls, rng, size=job.size, scenes=job.scenes)
    _save_png(root / "images" / job.cls / f"{job.name}.png", image)
    _save_png(root / "masks" / job.cls / f"{job.name}.png", (mask.astype(np.uint8) * 255))
    if fg is not None:
        _save_png(root / "foreground" / job.cls / f"{job.name}.png", (fg.astype(np.uint8) * 255))


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
    n, size = int(n), int(size)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
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
    jobs, samples, tasks = _plan(root, class_list, counts, seed, size, scenes, image_url_prefix)
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
        "layout": _layout(scenes),
        "samples": samples,
    }
    _write_files(root, jobs, manifest, tasks, workers, progress)
    return manifest


def _plan(
    root: Path,
    class_list: list[str],
    counts: dict[str, int],
    seed: int,
    size: int,
    scenes: bool,
    image_url_prefix: str,
) -> tuple[list[_SampleJob], list[dict], list[dict]]:
    """(the images to write, their manifest entries, their Label Studio tasks); makes the
    class folders."""
    jobs, samples, tasks = [], [], []
    for cls in class_list:
        if counts[cls]:
            for folder in ("images", "masks", *(("foreground",) if scenes else ())):
                (root / folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(counts[cls]):
            name = sample_name(cls, seed, i)
            job = _SampleJob(str(root), cls, i, int(seed), size, bool(scenes), name)
            jobs.append(job)
            samples.append(_sample_entry(job))
            tasks.append({"data": {"image": image_url_prefix + samples[-1]["image"], "class": cls}})
    return jobs, samples, tasks


def _sample_entry(job: _SampleJob) -> dict:
    """The manifest's line for one sample: its files, relative to the dataset folder."""
    entry = {
        "name": job.name,
        "class": job.cls,
        "index": job.index,
        "image": f"images/{job.cls}/{job.name}.png",
        "mask": f"masks/{job.cls}/{job.name}.png",
    }
    if job.scenes:
        entry["foreground"] = f"foreground/{job.cls}/{job.name}.png"
    return entry


def _layout(scenes: bool) -> dict[str, str]:
    return {
        "images": "images/<class>/<name>.png",
        "masks": "masks/<class>/<name>.png (0/255, empty for no_defect)",
        **(
            {"foreground": "foreground/<class>/<name>.png (0/255 structure mask)"} if scenes else {}
        ),
        "tasks": "tasks.json",
    }


def _write_files(
    root: Path,
    jobs: list[_SampleJob],
    manifest: dict,
    tasks: list[dict],
    workers: int,
    progress: bool,
) -> None:
    """Render and write every image (in ``workers`` processes when more than one), then the
    manifest and the tasks. The manifest is written first too (incomplete), so that an
    interrupted run still lists its files for the next run to clean up; tasks.json only once
    every image is there."""
    from tqdm import tqdm

    (root / "tasks.json").unlink(missing_ok=True)
    (root / "manifest.json").write_text(
        json.dumps({**manifest, "complete": False}, indent=1) + "\n"
    )
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
