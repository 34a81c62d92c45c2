"""``python -m model_zoo synth --out DIR --n N``: write a synthetic dataset (see
:mod:`model_zoo.data.synth`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from model_zoo.data.dataset import DEFECT_CLASSES
from model_zoo.data.synth import generate_dataset

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
