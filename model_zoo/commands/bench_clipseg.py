"""Benchmark: a K-prompt ensemble with shared encoding vs one prompt vs K naive calls.

    python -m model_zoo bench-clipseg [--models tiny-clipseg,random-clipseg-base] [--k 6]

Per image, on the configured device (CPU by default):

* ``single``: one prompt through the shared path (encoder once + decoder once);
* ``ensemble``: K prompts through the shared path (encoder once + decoder K times; prompt
  embeddings cached, as in the backend's steady state);
* ``ensemble_cold``: the same with an empty prompt cache (the text encoder runs K times);
* ``naive``: K separate ``model(**processor(text=[p], images=[image]))`` calls (text encoder,
  vision encoder and decoder each K times).

Reported: median seconds per image and the ratios ``ensemble/single`` (what K prompts cost over
one) and ``naive/ensemble`` (what shared encoding saves). Random weights: timings only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from PIL import Image

from model_zoo.clipseg.ensembles import ENSEMBLES
from model_zoo.clipseg.model import load_clipseg
from model_zoo.table import format_table

PROMPTS = list(dict.fromkeys(("bridge", "pillar", *ENSEMBLES["E3"].prompts, "tree", "road")))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="tiny-clipseg,random-clipseg-base")
    parser.add_argument(
        "--k",
        type=int,
        default=len(ENSEMBLES["E3"].prompts),
        help="prompts in the ensemble (default: E3's 6)",
    )
    parser.add_argument("--images", type=int, default=2, help="images per timed call")
    parser.add_argument("--size", default="640x480", help="image size WxH")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the results here")


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench_model(
    name: str, k: int, n_images: int, size: tuple[int, int], repeats: int, device: str
) -> dict:
    if not 1 <= k <= len(PROMPTS):
        raise SystemExit(f"--k must be between 1 and {len(PROMPTS)}")
    model = load_clipseg(name, device=device)
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        for _ in range(n_images)
    ]
    prompts = PROMPTS[:k]

    def cold():
        model._prompt_cache.clear()
        model.prompt_logits(images, prompts, batch_size=n_images)

    def naive():
        for image in images:
            model.naive_logits(image, prompts)

    single = _time(lambda: model.prompt_logits(images, prompts[:1], batch_size=n_images), repeats)
    ensemble = _time(lambda: model.prompt_logits(images, prompts, batch_size=n_images), repeats)
    ensemble_cold = _time(cold, repeats)
    naive_s = _time(naive, repeats)
    params = sum(p.numel() for p in model.model.parameters())
    per = {
        "single": single / n_images,
        "ensemble": ensemble / n_images,
        "ensemble_cold": ensemble_cold / n_images,
        "naive": naive_s / n_images,
    }
    return {
        "model": name,
        "parameters": params,
        "input_size": model.input_size,
        "k": k,
        "seconds_per_image": per,
        "ensemble_over_single": per["ensemble"] / per["single"],
        "naive_over_ensemble": per["naive"] / per["ensemble"],
        "naive_over_ensemble_cold": per["naive"] / per["ensemble_cold"],
    }


_HEADERS = {
    "params_m": "params (M)",
    "single": "single",
    "ensemble": "ensemble (K)",
    "ensemble_cold": "ensemble, cold cache",
    "naive": "K naive calls",
    "ensemble_over_single": "ensemble/single",
    "naive_over_ensemble": "naive/ensemble",
}
_DIGITS = {
    "params_m": 1,
    **dict.fromkeys(("single", "ensemble", "ensemble_cold", "naive"), 4),
    "ensemble_over_single": 2,
    "naive_over_ensemble": 2,
}


def _table_row(r: dict) -> dict:
    """One line of the table: seconds per image of each way, and the ratios."""
    s = r["seconds_per_image"]
    return {
        "model": r["model"],
        "params_m": r["parameters"] / 1e6,
        "K": r["k"],
        **{way: s[way] for way in ("single", "ensemble", "ensemble_cold", "naive")},
        "ensemble_over_single": r["ensemble_over_single"],
        "naive_over_ensemble": r["naive_over_ensemble"],
    }


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    w, _, h = args.size.lower().partition("x")
    size = (int(w), int(h))
    rows = [
        bench_model(m.strip(), args.k, args.images, size, args.repeats, args.device)
        for m in args.models.split(",")
        if m.strip()
    ]
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, {args.images} images "
        f"of {args.size} per call, median of {args.repeats}; seconds per image"
    )
    print(format_table([_table_row(r) for r in rows], digits=_DIGITS, headers=_HEADERS))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
