"""``python -m model_zoo bench-interactive``: first click vs later clicks on the same image.

Per mask source: milliseconds of the first click on a new image (embedding + decoder), the
median of the next clicks on the same image (decoder only, the embedding comes from the cache),
and their ratio (target: <= 15 %). The image is a synthetic crack image of ``--size`` px; the
clicks lie on the crack. SAM is a tiny random-weight model built from segment-anything's modules
at the real 1024 px input size (its masks are meaningless; its costs are SAM's plumbing with a
small encoder), unless ``--sam-checkpoint`` names real weights. CPU, ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.fallback import FallbackSource
from model_zoo.interactive.prompts import Prompts
from model_zoo.interactive.sam_source import SamSource
from model_zoo.table import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=1024, help="image side, pixels")
    parser.add_argument("--clicks", type=int, default=5, help="clicks per image after the first")
    parser.add_argument("--images", type=int, default=3, help="images (first clicks) per source")
    parser.add_argument("--sources", default="sam,fallback")
    parser.add_argument("--sam-checkpoint", default="", help="real SAM weights instead of tiny")
    parser.add_argument("--sam-model-type", default="vit_b")
    parser.add_argument("--threads", type=int, default=2)


def _sources(args: argparse.Namespace) -> dict:
    from model_zoo.sam.refiner import load_sam, tiny_sam

    cache = ByteLRU(256 * 1024 * 1024)

    def sam():
        if args.sam_checkpoint:
            model = load_sam(args.sam_checkpoint, args.sam_model_type).predictor.model
        else:
            model = tiny_sam(image_size=1024).predictor.model
        return SamSource(model, name="sam", cache=cache)

    builders = {
        "sam": sam,
        "fallback": lambda: FallbackSource(cache=cache),
    }
    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise SystemExit(f"unknown sources {unknown}; known: {', '.join(builders)}")
    return {n: builders[n]() for n in names}


def _crack_images(count: int, size: int) -> list[tuple[Image.Image, np.ndarray]]:
    from model_zoo.data.synth import render_sample, sample_rng

    out = []
    for i in range(count):
        image, mask, _ = render_sample("crack", sample_rng(7, "crack", i), size=size)
        ys, xs = np.nonzero(mask)
        out.append((Image.fromarray(image), np.stack([xs, ys], axis=1) + 0.5))
    return out


def _time_source(source, images, clicks: int) -> dict:
    first, later = [], []
    rng = np.random.default_rng(0)
    for n, (image, on_crack) in enumerate(images):
        picks = on_crack[rng.choice(len(on_crack), clicks + 1)]
        key = f"bench-{n}"
        for i, (x, y) in enumerate(picks):
            tic = time.perf_counter()
            source.segment(image, Prompts(((float(x), float(y)),), (True,)), key=key)
            (first if i == 0 else later).append(time.perf_counter() - tic)
    first_ms, later_ms = 1000 * statistics.median(first), 1000 * statistics.median(later)
    return {
        "first click ms": f"{first_ms:.1f}",
        "later clicks ms": f"{later_ms:.1f}",
        "later / first": f"{100 * later_ms / first_ms:.1f} %",
    }


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    images = _crack_images(args.images, args.size)
    rows = []
    for name, source in _sources(args).items():
        rows.append({"source": name, **_time_source(source, images, args.clicks)})
    print(f"{args.size}x{args.size} px, {args.images} images, {args.clicks} later clicks each")
    print(format_table(rows))
    return 0
