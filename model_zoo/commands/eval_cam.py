"""``python -m model_zoo eval-cam``: how good are CAM mask proposals, and should we trust them?

Fine-tunes the classifier (default: the ImageNet EfficientNet-Lite0) on the training split's
*image-level* labels only (masks are never seen; ``--epochs 0`` uses ``--model`` as it is), then,
on the test split, computes CAM proposals for each defect image's true class (the localisation
quality an annotator gets once the class is right) for every combination of ``--methods`` x
``--layers`` x ``--refine`` x ``--sizes``, and scores them per class and overall against the
ground-truth masks and the naive baselines (:mod:`model_zoo.cam.scoring`). The classifier's
test accuracy is read from the same shared pass that serves the masks, at each input size.
The summary compares the backend's default configuration with the best baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model_zoo.cam.pipeline import CamConfig, classify_and_segment
from model_zoo.cam.proposals import parse_threshold, union_mask
from model_zoo.cam.refinements import parse_refine
from model_zoo.cam.scoring import BASELINES, Scores, baseline_proposals, components
from model_zoo.data.dataset import load_dataset, open_image, open_mask
from model_zoo.table import format_table

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (model_zoo.dataset)")
    parser.add_argument(
        "--model",
        default="efficientnet-lite0",
        help="zoo name, directory or hub id (default: the ImageNet EfficientNet-Lite0)",
    )
    parser.add_argument("--methods", default="gradcam,layercam", help="comma list")
    parser.add_argument("--layers", default="last,multi", help="comma list: last, multi")
    parser.add_argument(
        "--refine",
        default="none,ridge,guided+ridge,superpixel+ridge",
        help="comma list of refinement chains (none, tta, advcam, superpixel, guided, ridge, sam; '+')",
    )
    parser.add_argument(
        "--ridge-filters", default="blackhat", help="comma list: blackhat, sato, frangi, meijering"
    )
    parser.add_argument("--sizes", default="0", help="comma list of CAM input sizes (0: model's)")
    parser.add_argument("--threshold", default="relative:0.5", help="relative:R, fixed:T, otsu")
    parser.add_argument("--min-area", type=int, default=64, help="original pixels")
    parser.add_argument("--epochs", type=int, default=6, help="0: use --model as it is")
    parser.add_argument("--train-blocks", default="auto", help="head, all, auto or a number")
    parser.add_argument("--save-model", default="", help="keep the fine-tuned model here")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--max-test", type=int, default=0, help="cap on test images (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sam-checkpoint", default="", help="Segment Anything checkpoint")
    parser.add_argument("--sam-model-type", default="vit_b")
    parser.add_argument("--json", required=True, help="write the report here")
    parser.add_argument("--plot", default="", help="overlay picture (PNG) of a few images")
    parser.add_argument("--plot-images", type=int, default=7)


def _overlay(image: Image.Image, gt: np.ndarray, pred: np.ndarray, title: str, side: int = 256):
    """Image scaled to ``side``: prediction red, ground-truth outline green, both yellow."""
    from scipy import ndimage as ndi

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    rgb[pred] = 0.5 * rgb[pred] + 0.5 * np.array([255, 0, 0])
    edge = gt & ~ndi.binary_erosion(gt, iterations=2)
    rgb[edge & ~pred] = [0, 255, 0]
    rgb[gt & pred] = [255, 230, 0]
    tile = Image.fromarray(rgb.astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (side, side + 14), "white")
    canvas.paste(tile, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), title[:40], fill="black")
    return canvas


def _classifier(args, train, classes):
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, fine_tune

    classifier = load_classifier(args.model, classes, device="cpu", seed=args.seed)
    if args.epochs <= 0:
        print(f"using {args.model} as it is (classes {classifier.classes})")
        return classifier
    pairs = [(open_image(s.image_path), classes.index(s.label)) for s in train]
    config = TrainConfig(
        epochs=args.epochs, train_blocks=args.train_blocks, seed=args.seed, progress=False
    )
    result = fine_tune(classifier, pairs, [], config)
    print(f"fine-tuned {args.model} in {result.seconds:.0f}s")
    if args.save_model:
        classifier.save(args.save_model, version=Path(args.save_model).name)
        print(f"saved the fine-tuned model to {args.save_model}")
    return classifier


def _accuracy(classifier, images, truth, size: int) -> float:
    """Test accuracy of the shared pass at CAM input ``size`` (no class is explained)."""
    config = CamConfig(input_size=size, score_threshold=2.0, refine=())
    hits = 0
    for start in range(0, len(images), 16):
        probs = classify_and_segment(classifier, images[start : start + 16], config).probabilities
        hits += int((probs.argmax(axis=1) == np.array(truth[start : start + 16])).sum())
    return hits / max(1, len(images))


def _variants(args) -> list[tuple[str, CamConfig]]:
    out = []
    split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
    ridges = split(args.ridge_filters)
    for method, layers, refine, size, ridge in itertools.product(
        split(args.methods), split(args.layers), split(args.refine), split(args.sizes), ridges
    ):
        if ridge != ridges[0] and "ridge" not in parse_refine(refine):
            continue  # the ridge filter only matters with the ridge refinement
        label = f"{method}/{layers}" + (f"@{size}" if int(size) else "")
        label += "" if refine == "none" else f"+{refine}"
        label += f"({ridge})" if len(ridges) > 1 and "ridge" in parse_refine(refine) else ""
        config = CamConfig(
            method=method,
            layers=layers,
            input_size=int(size),
            threshold=args.threshold,
            min_area=args.min_area,
            refine=refine,
            score_threshold=0.0,
            ridge_filter=ridge,
        )
        out.append((label, config))
    return out


def _score_cam(classifier, label, config, data, sam) -> tuple[dict, list[np.ndarray]]:
    images, samples, truth, defect, gts, gt_labels = data
    scores, preds = Scores(), []
    tic = time.perf_counter()
    for start in range(0, len(defect), 16):
        chunk = defect[start : start + 16]
        found = classify_and_segment(
            classifier,
            [images[i] for i in chunk],
            config,
            sam=sam,
            forced=[[truth[i]] for i in chunk],
        ).masks
        for i, per_image in zip(chunk, found, strict=True):
            w, h = images[i].size
            props = [p for m in per_image for p in m.proposals]
            pred = union_mask(props, w, h)
            scores.add(samples[i].label, pred, gts[i], props, gt_labels[i])
            preds.append(pred)
    seconds = time.perf_counter() - tic
    row = {
        "kind": "cam",
        "method": config.method,
        "layers": config.layers,
        "refine": "+".join(config.refine) or "none",
        "input_size": config.input_size or classifier.input_size,
        "ridge_filter": config.ridge_filter,
        "ms_per_image": 1000 * seconds / max(1, len(defect)),
        **scores.report(),
    }
    print(f"  {label}: {seconds:.1f}s, IoU {row['overall']['iou']:.3f}")
    return row, preds


def _is_default(row: dict, model_side: int) -> bool:
    d = CamConfig()
    wanted = {
        "method": d.method,
        "layers": d.layers,
        "refine": "+".join(d.refine) or "none",
        "input_size": d.input_size or model_side,
        "ridge_filter": d.ridge_filter,
    }
    return row["kind"] == "cam" and all(row.get(k) == v for k, v in wanted.items())


def _summary(rows: dict[str, dict], model_side: int) -> dict:
    """The backend's default configuration against the best baseline (IoU, accepted share)."""
    baselines = {k: r["overall"] for k, r in rows.items() if r["kind"] == "baseline"}
    best_iou = max(baselines, key=lambda k: baselines[k]["iou"])
    best_acc = max(baselines, key=lambda k: baselines[k]["accepted"])
    out: dict = {"best_baseline_iou": best_iou, "best_baseline_accepted": best_acc}
    default = next((k for k, r in rows.items() if _is_default(r, model_side)), None)
    if default is not None:
        d = rows[default]["overall"]
        out["default"] = default
        out["iou_ratio"] = d["iou"] / max(1e-9, baselines[best_iou]["iou"])
        out["accepted_ratio"] = d["accepted"] / max(1e-9, baselines[best_acc]["accepted"])
        out["default_per_class_iou"] = {c: r["iou"] for c, r in rows[default]["per_class"].items()}
    return out


@dataclass
class _TestSet:
    """The test images with masks, their classes, and the ground truth of the defect ones."""

    samples: list
    images: list
    truth: list[int]
    defect: list[int]
    gts: dict
    gt_labels: dict

    @classmethod
    def of(cls, test, classifier, max_test: int) -> _TestSet:
        samples = [s for s in test if s.mask_path is not None][: max_test or None]
        images = [open_image(s.image_path) for s in samples]
        truth = [classifier.classes.index(s.label) for s in samples]
        defect = [i for i, s in enumerate(samples) if open_mask(s.mask_path, images[i].size).any()]
        gts = {i: open_mask(samples[i].mask_path, images[i].size) for i in defect}
        gt_labels = {i: components(gts[i])[0] for i in defect}
        return cls(samples, images, truth, defect, gts, gt_labels)


def _score_baselines(data: _TestSet, min_area: int, rows: dict, overlays: dict) -> None:
    for name in BASELINES:
        scores = Scores()
        overlays[name] = []
        for i in data.defect:
            w, h = data.images[i].size
            props = baseline_proposals(name, data.images[i], min_area)
            pred = union_mask(props, w, h)
            scores.add(data.samples[i].label, pred, data.gts[i], props, data.gt_labels[i])
            overlays[name].append(pred)
        rows[name] = {"kind": "baseline", **scores.report()}


def _score_variants(args, classifier, data: _TestSet, rows: dict, overlays: dict) -> list[str]:
    sam = None
    if args.sam_checkpoint:
        from model_zoo.sam import load_sam

        sam = load_sam(args.sam_checkpoint, args.sam_model_type)
    notes = []
    packed = (data.images, data.samples, data.truth, data.defect, data.gts, data.gt_labels)
    for label, config in _variants(args):
        if "sam" in parse_refine(config.refine) and sam is None:
            notes.append(f"{label}: skipped, no --sam-checkpoint")
            continue
        rows[label], overlays[label] = _score_cam(classifier, label, config, packed, sam)
    return notes


def _print_report(report: dict, rows: dict, notes: list[str]) -> None:
    print(results_table(rows))
    print("summary:", json.dumps(report["summary"]))
    for note in notes:
        print("note:", note)


def run(args: argparse.Namespace) -> int:
    import torch

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    parse_threshold(args.threshold)
    dataset = load_dataset(args.data)
    train, test = dataset.split(args.test_fraction, seed=args.seed)
    classes = list(dataset.classes)
    print(f"{len(train)} training images (image-level labels only), {len(test)} test images")
    classifier = _classifier(args, train, classes)
    data = _TestSet.of(test, classifier, args.max_test)
    sizes = sorted({c.input_size or classifier.input_size for _, c in _variants(args)})
    accuracy = {str(size): _accuracy(classifier, data.images, data.truth, size) for size in sizes}
    print(f"classifier test accuracy by input size {accuracy}; {len(data.defect)} defect images")
    rows: dict[str, dict] = {}
    overlays: dict[str, list[np.ndarray]] = {}
    _score_baselines(data, args.min_area, rows, overlays)
    notes = _score_variants(args, classifier, data, rows, overlays)
    report = {
        "command": "python -m model_zoo eval-cam " + " ".join(_argv(args)),
        "model": args.model,
        "classes": classes,
        "train_images": len(train),
        "test_images": len(data.samples),
        "test_defect_images": len(data.defect),
        "classifier_test_accuracy": accuracy,
        "threshold": args.threshold,
        "min_area": args.min_area,
        "class_used": "ground-truth class of each test image (image-level), CAM of that class",
        "summary": _summary(rows, classifier.input_size),
        "results": rows,
        "notes": notes,
        "seconds": time.perf_counter() - started,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    _print_report(report, rows, notes)
    if args.plot and data.defect:
        plot(args.plot, data.images, data.defect, data.gts, data.samples, overlays, rows,
             args.plot_images)  # fmt: skip
        print(f"overlays: {args.plot}")
    print(f"report: {args.json}")
    return 0


def _argv(args) -> list[str]:
    out = ["--data", str(args.data), "--model", args.model, "--methods", args.methods]
    out += ["--layers", args.layers, "--refine", args.refine, "--sizes", args.sizes]
    out += ["--ridge-filters", args.ridge_filters]
    out += ["--threshold", args.threshold, "--min-area", str(args.min_area)]
    out += ["--epochs", str(args.epochs), "--train-blocks", args.train_blocks]
    return out + ["--json", str(args.json)]


def results_table(rows: dict[str, dict]) -> str:
    """One line per method: overall IoU, precision, recall, accepted share, proposals, time,
    and the mask IoU per class."""
    classes = sorted({c for r in rows.values() for c in r["per_class"]})
    table = [
        {
            "method": name,
            **{k: r["overall"][k] for k in ("iou", "precision", "recall", "accepted")},
            "props": r["overall"]["proposals_per_image"],
            "ms/img": r.get("ms_per_image"),
            **{c[:9]: r["per_class"].get(c, {}).get("iou") for c in classes},
        }
        for name, r in rows.items()
    ]
    text = format_table(table, digits={"props": 1, "ms/img": 0}, headers={"accepted": "acc≥.5"})
    return text + "\n(per-class columns: mask IoU; acc≥.5: share of proposals with IoU ≥ 0.5)"


def plot(path, images, defect, gts, samples, overlays, rows, count) -> None:
    """One row per image: ground truth, the best baseline, the default and the best CAM rows."""
    cams = [k for k, r in rows.items() if r["kind"] == "cam"]
    default = next((k for k in cams if _is_default(rows[k], rows[k]["input_size"])), None)
    best = sorted((k for k in cams if k != default), key=lambda k: -rows[k]["overall"]["iou"])
    columns = ["intensity", *([default] if default else []), *best[: 3 - bool(default)]]
    # a spread of classes: the first defect image of each class, in order
    chosen, seen = [], set()
    for pos, i in enumerate(defect):
        if samples[i].label not in seen:
            chosen.append(pos)
            seen.add(samples[i].label)
    chosen = chosen[:count]
    tiles = []
    for pos in chosen:
        i = defect[pos]
        row = [_overlay(images[i], gts[i], gts[i], f"{samples[i].label}: truth")]
        for name in columns:
            row.append(_overlay(images[i], gts[i], overlays[name][pos], name))
        tiles.append(row)
    w, h = tiles[0][0].size
    sheet = Image.new("RGB", (w * len(tiles[0]), h * len(tiles)), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * w, r * h))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
