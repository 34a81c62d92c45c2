"""Accuracy of the region measures on synthetic cracks of known width and length:
``python -m model_zoo eval-measure [--widths 2,3,4,6,8,12] [--n 20] [--size 160]``.

Prints, per true width, the mean and worst error of the max and mean width (px) and of the
length (%), over ``n`` cracks from :func:`model_zoo.data.synth.crack_of_width`.
"""

from __future__ import annotations

import argparse

import numpy as np

from model_zoo.data.synth import crack_of_width
from model_zoo.measure import measure_regions
from model_zoo.table import format_table


def measure_errors(width: float, n: int, size: int, seed: int) -> dict[str, np.ndarray]:
    """Errors of ``n`` cracks of ``width``: max/mean width (px) and length (relative)."""
    rng = np.random.default_rng([seed, int(round(width * 100))])
    errors: dict[str, list[float]] = {"max_width": [], "mean_width": [], "length": []}
    for _ in range(n):
        crack = crack_of_width(rng, size, width)
        regions = measure_regions(crack.mask)
        biggest = regions[0]
        errors["max_width"].append(biggest.max_width_px - crack.width)
        errors["mean_width"].append(biggest.mean_width_px - crack.width)
        errors["length"].append(biggest.length_px / crack.length - 1.0)
    return {k: np.asarray(v) for k, v in errors.items()}


def accuracy_rows(widths: list[float], n: int, size: int, seed: int) -> list[dict]:
    rows = []
    for width in widths:
        e = measure_errors(width, n, size, seed)
        rows.append(
            {
                "width_px": f"{width:g}",
                "max_width_err_px": f"{e['max_width'].mean():+.2f}",
                "max_width_worst": f"{np.abs(e['max_width']).max():.2f}",
                "mean_width_err_px": f"{e['mean_width'].mean():+.2f}",
                "mean_width_worst": f"{np.abs(e['mean_width']).max():.2f}",
                "length_err_%": f"{100 * e['length'].mean():+.1f}",
                "length_worst_%": f"{100 * np.abs(e['length']).max():.1f}",
            }
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--widths", default="2,3,4,6,8,12", help="true widths in px")
    parser.add_argument("--n", type=int, default=20, help="cracks per width")
    parser.add_argument("--size", type=int, default=160, help="image side in px")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    try:
        widths = [float(w) for w in str(args.widths).split(",") if w.strip()]
    except ValueError:
        print(f"eval-measure: --widths must be numbers, not {args.widths!r}")
        return 2
    print(format_table(accuracy_rows(widths, max(1, args.n), args.size, args.seed)))
    return 0
