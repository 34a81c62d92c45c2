"""``python -m model_zoo bench-cam``: what CAM mask proposals cost, next to the bare forward pass.

Per CAM method (and refinement): milliseconds per image for classification + CAM + proposals
(at the image's original size, ``--size`` pixels square), the bare classifier forward pass on
the same batch, their ratio, and the process's peak resident memory after the method ran
(``ru_maxrss``; it only grows, so read the increments). CPU, ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
from PIL import Image

from model_zoo.table import format_table

_HEADERS = {
    "ms_per_image": "ms/img",
    "ratio_to_forward": "x forward",
    "ratio_to_classification": "x classify",
    "regions_per_image": "regions/img",
    "peak_rss_mb": "peak MB",
}
_DIGITS = {**dict.fromkeys(_HEADERS, 1), "peak_rss_mb": 0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny-vit")
    parser.add_argument(
        "--methods", default="gradcam,gradcam++,xgradcam,layercam,eigencam,scorecam"
    )
    parser.add_argument("--refine", default="none", help="comma list of refinements to time")
    parser.add_argument("--size", type=int, default=1024, help="image side, pixels")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="", help="also write the rows here")


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return min(times)


def run(args: argparse.Namespace) -> int:
    import torch

    from model_zoo.cam.refine import CamConfig, segment
    from model_zoo.classifier.model import load_classifier
    from model_zoo.sam.refiner import tiny_sam

    torch.set_num_threads(args.threads)
    classes = ["crack", "spalling", "rust", "no_defect"]
    classifier = load_classifier(args.model, classes, device="cpu", multi_label=True)
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))
        for _ in range(args.batch)
    ]
    pixel_values = classifier.preprocess(images)
    forward = _best(lambda: classifier.logits(pixel_values), args.repeats) / args.batch
    classify = _best(lambda: classifier.predict_proba(images), args.repeats) / args.batch
    rows = []
    print(
        f"{args.model}, {args.batch} images of {args.size}x{args.size}, {args.threads} threads; "
        f"bare forward {1000 * forward:.1f} ms/img, classification incl. pre-processing "
        f"{1000 * classify:.1f} ms/img, peak RSS {_peak_mb():.0f} MB"
    )
    sam = None
    for refine in [r.strip() for r in args.refine.split(",") if r.strip()]:
        if "sam" in refine:
            sam = sam or tiny_sam(image_size=256)
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            # score threshold 0: every class gets a map (worst case: 4 classes per image)
            config = CamConfig(method=method, refine=refine, score_threshold=0.0, min_area=64)
            found: list = []

            def once(c=config, out=found, s=sam):
                out.append(segment(classifier, images, c, sam=s))

            seconds = _best(once, 1)
            per_image = seconds / args.batch
            regions = sum(len(m.proposals) for row in found[-1] for m in row) / args.batch
            name = method if refine == "none" else f"{method}+{refine}"
            row = {
                "method": name,
                "ms_per_image": 1000 * per_image,
                "ratio_to_forward": per_image / forward,
                "ratio_to_classification": per_image / classify,
                "regions_per_image": regions,
                "peak_rss_mb": _peak_mb(),
            }
            rows.append(row)
    print(format_table(rows, digits=_DIGITS, headers=_HEADERS))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"forward_ms": 1000 * forward, "classify_ms": 1000 * classify, "rows": rows},
                fh,
                indent=2,
            )
    return 0
