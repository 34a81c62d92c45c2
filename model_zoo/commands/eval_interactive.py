"""``python -m model_zoo eval-interactive``: interactive masks scored on photos with true masks.

The click protocol of interactive segmentation papers, simulated on the true masks: the first
(positive) click on the true mask's pixel farthest from its outline; each next click at the
pixel farthest from the outline of the largest error region (positive on a missed part,
negative on a false one). Per mask source (``--sources``: ``fallback``, ``sam`` with
``--sam-checkpoint``), the mean IoU with the true mask after 1 and after ``--clicks`` clicks, and
after one box (the true mask's bounding box), on ``--images`` defect images of the folder
(seeded draw; every class with masks). A class with "crack" in its name gets the ``ridge``
shape hint, as the backend gives a crack label.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from model_zoo.table import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory with masks")
    parser.add_argument("--json", default="", help="write the report here")
    parser.add_argument("--sources", default="fallback", help="comma list: fallback, sam")
    parser.add_argument("--sam-checkpoint", default="")
    parser.add_argument("--sam-model-type", default="vit_b")
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--images", type=int, default=100, help="defect images scored (0: all)")
    parser.add_argument("--seed", type=int, default=0)


def farthest_inside(region: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` (pixel centre) of the region's pixel farthest from its outline."""
    from scipy import ndimage as ndi

    distance = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(x) + 0.5, float(y) + 0.5


def next_click(pred: np.ndarray, truth: np.ndarray) -> tuple[tuple[float, float], bool]:
    """The next click: inside the largest error region, positive when it is a missed part."""
    from model_zoo.masks.scoring import components

    best, positive = None, True
    for error, is_miss in ((truth & ~pred, True), (pred & ~truth, False)):
        labels, count = components(error)
        if not count:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        k = int(np.argmax(sizes)) + 1
        if best is None or sizes[k - 1] > best.sum():
            best, positive = labels == k, is_miss
    if best is None:  # perfect already: click the true mask again
        return farthest_inside(truth), True
    return farthest_inside(best), positive


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def shape_of(label: str) -> str | None:
    """The backend's shape hint for a label: ``ridge`` for a crack label, else its own pick."""
    return "ridge" if "crack" in label.lower() else None


def session(source, image, truth: np.ndarray, clicks: int, key: str, shape=None) -> list[float]:
    """IoU after each of ``clicks`` simulated clicks on one image."""
    from model_zoo.interactive.prompts import Prompts

    points, positive, out = [farthest_inside(truth)], [True], []
    for _ in range(clicks):
        prompts = Prompts(tuple(points), tuple(positive))
        found = source.segment(image, prompts, key=key, shape=shape).mask
        out.append(iou(found, truth))
        point, is_positive = next_click(found, truth)
        points.append(point)
        positive.append(is_positive)
    return out


def box_iou(source, image, truth: np.ndarray, key: str, shape=None) -> float:
    from model_zoo.interactive.prompts import Prompts

    rows, cols = np.nonzero(truth.any(axis=1))[0], np.nonzero(truth.any(axis=0))[0]
    box = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
    return iou(source.segment(image, Prompts(boxes=(box,)), key=key, shape=shape).mask, truth)


def _sources(args) -> dict:
    from model_zoo.interactive.fallback import FallbackSource
    from model_zoo.interactive.sam_source import SamSource

    out = {}
    for name in [n.strip() for n in args.sources.split(",") if n.strip()]:
        if name == "fallback":
            out[name] = FallbackSource()
        elif name == "sam":
            if not args.sam_checkpoint:
                raise SystemExit("--sources sam needs --sam-checkpoint")
            from model_zoo.sam.refiner import load_sam

            model = load_sam(args.sam_checkpoint, args.sam_model_type).predictor.model
            out[name] = SamSource(model, name="sam")
        else:
            raise SystemExit(f"unknown source {name!r}: fallback, sam")
    return out


def _samples(args):
    from model_zoo.data.dataset import load_dataset, open_image, open_mask

    dataset = load_dataset(args.data, verify=False)
    masked = [s for s in dataset if s.mask_path is not None and s.label != "no_defect"]
    if not masked:
        raise SystemExit(f"{args.data} has no defect image with a mask")
    order = np.random.default_rng(args.seed).permutation(len(masked))
    chosen = [masked[i] for i in sorted(order[: args.images or None])]
    for sample in chosen:
        image = open_image(sample.image_path)
        truth = open_mask(sample.mask_path, image.size)
        if truth.any():
            yield sample, image, truth


def run(args: argparse.Namespace) -> int:
    sources = _sources(args)
    rows, per_class = [], {}
    data = list(_samples(args))
    for name, source in sources.items():
        tic = time.perf_counter()
        curves, boxes = [], []
        for sample, image, truth in data:
            key = str(sample.image_path)
            shape = shape_of(sample.label)
            curves.append(session(source, image, truth, args.clicks, key, shape))
            boxes.append(box_iou(source, image, truth, key, shape))
            per_class.setdefault(name, {}).setdefault(sample.label, []).append(curves[-1][-1])
        curve = np.mean(curves, axis=0)
        rows.append(
            {
                "source": name,
                "iou_1_click": float(curve[0]),
                f"iou_{args.clicks}_clicks": float(curve[-1]),
                "iou_box": float(np.mean(boxes)),
                "accepted_1_click": float(np.mean([c[0] >= 0.5 for c in curves])),
                f"accepted_{args.clicks}_clicks": float(np.mean([c[-1] >= 0.5 for c in curves])),
                "ms_per_image": 1000 * (time.perf_counter() - tic) / max(1, len(data)),
            }
        )
    print(f"{len(data)} defect images of {args.data} (seed {args.seed})")
    print(format_table(rows, digits={"ms_per_image": 0}))
    if args.json:
        report = {
            "command": f"python -m model_zoo eval-interactive --data {args.data} --sources "
            f"{args.sources} --clicks {args.clicks} --images {args.images} --seed {args.seed}",
            "images": len(data),
            "results": rows,
            "per_class_iou_last_click": {
                n: {c: float(np.mean(v)) for c, v in d.items()} for n, d in per_class.items()
            },
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0
