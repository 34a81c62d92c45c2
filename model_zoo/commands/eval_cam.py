"""``python -m model_zoo eval-cam``: how good are CAM mask proposals, and should we trust them?

Fine-tunes the classifier on the training split's *image-level* labels only (masks are never
seen), then, on the test split, computes CAM proposals for each defect image's true class
(the localisation quality an annotator gets once the class is right; the classifier's accuracy
is reported next to it) and compares them with the ground-truth masks:

* ``iou``: mean over images of IoU(union of proposals, ground-truth mask);
* ``precision`` / ``recall``: pixel precision and recall pooled over the class's images;
* ``accepted``: share of proposals an annotator would accept — IoU >= 0.5 with the ground-truth
  defect regions (connected components) it overlaps;
* ``proposals``: proposals per image.

Baselines on the same images: ``whole-image`` (one proposal covering everything),
``centre-box`` (the central box of half the image's area) and ``intensity`` (pixels whose grey
level is far from the median, by Otsu's threshold, cleaned up like CAM proposals).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from model_zoo.cam.proposals import Proposal, parse_threshold, proposals, union_mask
from model_zoo.data.dataset import load_dataset, open_image, open_mask
from model_zoo.table import format_table

log = logging.getLogger(__name__)

BASELINES = ("whole-image", "centre-box", "intensity")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (model_zoo.data.dataset)")
    parser.add_argument("--model", default="tiny-vit", help="zoo name, directory or hub id")
    parser.add_argument("--methods", default="gradcam,gradcam++,layercam,xgradcam,eigencam")
    parser.add_argument("--refine", default="none,tta,advcam", help="none,tta,advcam,sam")
    parser.add_argument("--threshold", default="relative:0.5", help="relative:R, fixed:T, otsu")
    parser.add_argument("--min-area", type=int, default=64, help="original pixels")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--max-test", type=int, default=0, help="cap on test images (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sam-checkpoint", default="", help="Segment Anything checkpoint")
    parser.add_argument("--sam-model-type", default="vit_b")
    parser.add_argument("--json", required=True, help="write the report here")
    parser.add_argument("--plot", default="", help="overlay picture (PNG) of a few images")
    parser.add_argument("--plot-images", type=int, default=4)


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3), dtype=bool))


def accepted(prop: Proposal, gt_labels: np.ndarray, threshold: float = 0.5) -> bool:
    """IoU >= threshold with the union of ground-truth components the proposal overlaps."""
    x0, y0, x1, y1 = prop.box
    touched = np.unique(gt_labels[y0:y1, x0:x1][prop.crop])
    touched = touched[touched > 0]
    if not len(touched):
        return False
    gt = np.isin(gt_labels, touched)
    pred = prop.full_mask()
    inter = np.logical_and(gt, pred).sum()
    return inter / max(1, np.logical_or(gt, pred).sum()) >= threshold


class Scores:
    """Per-class accumulators of one method."""

    def __init__(self):
        self.per_class: dict[str, dict[str, float]] = {}

    def add(self, cls: str, pred: np.ndarray, gt: np.ndarray, props: list[Proposal], gt_labels):
        s = self.per_class.setdefault(
            cls, {"iou": 0.0, "n": 0, "tp": 0, "fp": 0, "fn": 0, "props": 0, "accepted": 0}
        )
        inter = int(np.logical_and(pred, gt).sum())
        union = int(np.logical_or(pred, gt).sum())
        s["iou"] += inter / union if union else 1.0
        s["n"] += 1
        s["tp"] += inter
        s["fp"] += int(pred.sum()) - inter
        s["fn"] += int(gt.sum()) - inter
        s["props"] += len(props)
        s["accepted"] += sum(accepted(p, gt_labels) for p in props)

    @staticmethod
    def _row(s: dict[str, float]) -> dict[str, float]:
        return {
            "iou": s["iou"] / max(1, s["n"]),
            "precision": s["tp"] / max(1, s["tp"] + s["fp"]),
            "recall": s["tp"] / max(1, s["tp"] + s["fn"]),
            "accepted": s["accepted"] / s["props"] if s["props"] else 0.0,
            "proposals_per_image": s["props"] / max(1, s["n"]),
            "images": int(s["n"]),
        }

    def report(self) -> dict:
        total = {k: 0.0 for k in ("iou", "n", "tp", "fp", "fn", "props", "accepted")}
        for s in self.per_class.values():
            for k in total:
                total[k] += s[k]
        per_class = {c: self._row(s) for c, s in sorted(self.per_class.items())}
        overall = self._row(total)
        overall["class_mean_iou"] = float(np.mean([r["iou"] for r in per_class.values()]))
        return {"overall": overall, "per_class": per_class}


def baseline_proposals(name: str, image: Image.Image, min_area: int) -> list[Proposal]:
    width, height = image.size
    if name == "whole-image":
        box = (0, 0, width, height)
        crop = np.ones((height, width), dtype=bool)
        return [Proposal(box, crop, 1.0, (width // 2, height // 2), (width, height))]
    if name == "centre-box":
        bw, bh = round(width / np.sqrt(2)), round(height / np.sqrt(2))
        x0, y0 = (width - bw) // 2, (height - bh) // 2
        crop = np.ones((bh, bw), dtype=bool)
        return [
            Proposal(
                (x0, y0, x0 + bw, y0 + bh), crop, 1.0, (width // 2, height // 2), (width, height)
            )
        ]
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    deviation = np.abs(grey - np.median(grey))
    if deviation.max() > 0:
        deviation = deviation / deviation.max()
    return proposals(deviation, width, height, "otsu", min_area=min_area)


def _overlay(image: Image.Image, gt: np.ndarray, pred: np.ndarray, title: str, side: int = 160):
    """Image with prediction in red, ground truth outlined in green, scaled to ``side``."""
    from scipy import ndimage as ndi

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    rgb[pred] = 0.5 * rgb[pred] + 0.5 * np.array([255, 0, 0])
    edge = gt & ~ndi.binary_erosion(gt, iterations=2)
    rgb[edge] = [0, 255, 0]
    tile = Image.fromarray(rgb.astype(np.uint8)).resize((side, side), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (side, side + 14), "white")
    canvas.paste(tile, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), title[:26], fill="black")
    return canvas


def run(args: argparse.Namespace) -> int:
    import torch

    from model_zoo.cam.refine import CamConfig, parse_refine, segment
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, evaluate, fine_tune

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    parse_threshold(args.threshold)
    dataset = load_dataset(args.data)
    train, test = dataset.split(args.test_fraction, seed=args.seed)
    classes = list(dataset.classes)
    print(f"{len(train)} training images (image-level labels only), {len(test)} test images")
    classifier = load_classifier(args.model, classes, device="cpu", seed=args.seed)
    pairs = [(open_image(s.image_path), classes.index(s.label)) for s in train]
    result = fine_tune(
        classifier, pairs, [], TrainConfig(epochs=args.epochs, seed=args.seed, progress=False)
    )
    print(f"fine-tuned {args.model} in {result.seconds:.0f}s")

    samples = [s for s in test if s.mask_path is not None]
    if args.max_test:
        samples = samples[: args.max_test]
    images = [open_image(s.image_path) for s in samples]
    truth = [classes.index(s.label) for s in samples]
    probs = classifier.predict_proba(images)
    classification = evaluate(probs, np.array(truth), classes)
    defect = [i for i, s in enumerate(samples) if open_mask(s.mask_path, images[i].size).any()]
    gts = {i: open_mask(samples[i].mask_path, images[i].size) for i in defect}
    gt_labels = {i: _components(gts[i])[0] for i in defect}
    print(
        f"classifier accuracy on the test split {classification['accuracy']:.3f}; "
        f"{len(defect)} defect images with masks"
    )

    sam = None
    if args.sam_checkpoint:
        from model_zoo.sam.refiner import load_sam

        sam = load_sam(args.sam_checkpoint, args.sam_model_type)

    rows: dict[str, dict] = {}
    overlays: dict[str, list[np.ndarray]] = {}
    for name in BASELINES:
        scores = Scores()
        overlays[name] = []
        for i in defect:
            w, h = images[i].size
            props = baseline_proposals(name, images[i], args.min_area)
            pred = union_mask(props, w, h)
            scores.add(samples[i].label, pred, gts[i], props, gt_labels[i])
            overlays[name].append(pred)
        rows[name] = {"kind": "baseline", **scores.report()}
    notes = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for refine in [r.strip() for r in args.refine.split(",") if r.strip()]:
            label = method if refine == "none" else f"{method}+{refine}"
            if "sam" in parse_refine(refine) and sam is None:
                notes.append(f"{label}: skipped, no --sam-checkpoint")
                continue
            config = CamConfig(
                method=method,
                threshold=args.threshold,
                min_area=args.min_area,
                refine=refine,
                score_threshold=0.0,
            )
            tic = time.perf_counter()
            scores = Scores()
            overlays[label] = []
            for start in range(0, len(defect), 16):
                chunk = defect[start : start + 16]
                found = segment(
                    classifier,
                    [images[i] for i in chunk],
                    config,
                    sam=sam,
                    forced=[[truth[i]] for i in chunk],
                )
                for i, per_image in zip(chunk, found, strict=True):
                    w, h = images[i].size
                    props = [p for m in per_image for p in m.proposals]
                    pred = union_mask(props, w, h)
                    scores.add(samples[i].label, pred, gts[i], props, gt_labels[i])
                    overlays[label].append(pred)
            seconds = time.perf_counter() - tic
            rows[label] = {
                "kind": "cam",
                "method": method,
                "refine": refine,
                "ms_per_image": 1000 * seconds / max(1, len(defect)),
                **scores.report(),
            }
            print(f"  {label}: {seconds:.1f}s")

    report = {
        "command": "python -m model_zoo eval-cam " + " ".join(_argv(args)),
        "model": args.model,
        "classes": classes,
        "train_images": len(train),
        "test_defect_images": len(defect),
        "classifier_test_accuracy": classification["accuracy"],
        "threshold": args.threshold,
        "min_area": args.min_area,
        "class_used": "ground-truth class of each test image (image-level), CAM of that class",
        "results": rows,
        "notes": notes,
        "seconds": time.perf_counter() - started,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(results_table(rows))
    for note in notes:
        print("note:", note)
    if args.plot and defect:
        plot(args.plot, images, defect, gts, samples, overlays, rows, args.plot_images)
        print(f"overlays: {args.plot}")
    print(f"report: {args.json}")
    return 0


def _argv(args) -> list[str]:
    out = ["--data", str(args.data), "--model", args.model, "--methods", args.methods]
    out += ["--refine", args.refine, "--threshold", args.threshold]
    out += ["--min-area", str(args.min_area), "--epochs", str(args.epochs)]
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
    """One row per image: ground truth, then the best baseline and the CAM variants."""
    cams = [k for k, r in rows.items() if r["kind"] == "cam"]
    best = sorted(cams, key=lambda k: -rows[k]["overall"]["iou"])[:3]
    columns = ["intensity", *best]
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
