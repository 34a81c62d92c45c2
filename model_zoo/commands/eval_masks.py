"""``python -m model_zoo eval-masks``: every mask source scored on one folder of real photos.

The folder (``--data``, the usual layout) needs a defect class with masks and a ``no_defect``
class (:func:`model_zoo.masks.data.check_mask_dataset` says what is missing). It is split,
seeded, into a training part and a test part, keeping the tiles of one photo together
(:func:`model_zoo.masks.data.grouped_split`). Every source learns from the training part only
and is scored on the test part's defect images against their masks
(:mod:`model_zoo.masks.scoring`):

* ``baseline``: ``whole-image``, ``centre-box``, ``intensity`` (eval-cam's naive baselines) and
  ``dark`` (pixels darker than their surroundings, the threshold half of the weak pseudo-masks
  uses, with no learning);
* ``cam``: the backend's default CAM configuration on the classifier fine-tuned on the training
  part's image labels, for each test image's true class;
* ``weak``: the segmentation network trained on pseudo-masks from those CAMs and the dark-pixel
  threshold (image labels only; :mod:`model_zoo.segmentation.weak`);
* ``corrected-N``: the segmentation network trained on N true masks of the training part (the
  path a project takes once annotators correct masks), for each N of ``--corrected``; it
  continues the weak model (``--corrected-start weak``, as a project continues its live model)
  when there is one, else starts from ImageNet.

Report (``--json``): ``results[source] = {"kind", "corrected", "overall": {"iou", "pooled_iou",
"f1_tol2", "accepted", ...}, "per_class": {...}}`` plus the split, the classifier's test
accuracy, each source's training record and seconds. ``--plot``: bars of the four figures per
source (numbers only: no image of the data).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from model_zoo.commands import eval_masks_sources as sources
from model_zoo.masks.data import TILE_SUFFIX, check_mask_dataset, grouped_split
from model_zoo.table import format_table

log = logging.getLogger(__name__)

FIGURES = ("iou", "pooled_iou", "f1_tol2", "accepted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--data", required=True, help="dataset directory (a defect class with masks + no_defect)")
    add("--json", required=True, help="write the report here")
    add("--corrected", default="10,40", help="comma list of corrected-mask counts ('' : none)")
    add("--plot", default="", help="bar chart of the figures per source (PNG)")
    add("--sources", default="baselines,cam,weak,corrected", help="comma list of kinds")
    add("--model", default="efficientnet-lite0", help="classifier (zoo name, folder, hub id)")
    add("--epochs", type=int, default=4, help="classifier fine-tuning epochs (0: --model as is)")
    add("--max-train", type=int, default=0, help="most training images per class (0: all)")
    add("--encoder", default="efficientnet_lite0", help="segmentation encoder")
    add("--input-size", type=int, default=0, help="segmentation tile side (0: encoder's)")
    add("--crop-size", type=int, default=0, help="segmentation training crop (0: tile side)")
    add(
        "--min-side",
        type=int,
        default=-1,
        help="enlarge images whose shorter side is under this (at most 2x) for segmentation; "
        "-1: the training default, 0: never (a --weak-model keeps its own)",
    )
    add("--loss", default="", help="segmentation loss (default: the training default)")
    add("--seg-epochs", type=int, default=0, help="corrected-N epochs (0: the default)")
    add(
        "--corrected-start",
        default="weak",
        choices=("weak", "imagenet"),
        help="corrected-N continue the weak model (as a project does) or start from ImageNet",
    )
    add("--weak-epochs", type=int, default=0, help="weak epochs per round (0: the default)")
    add("--weak-rounds", type=int, default=0, help="1, or 2 (a round on its own predictions)")
    add("--weak-images", type=int, default=0, help="most images per class for the weak model")
    add("--weak-model", default="", help="a weak model saved before (--save-models): as is")
    add("--min-area", type=int, default=64, help="smallest region kept, original pixels")
    add("--test-fraction", type=float, default=0.3)
    add("--max-test", type=int, default=0, help="most test defect images (0: all)")
    add("--group", default=TILE_SUFFIX, help="regex stripped from names to group tiles ('': off)")
    add("--seed", type=int, default=0)
    add("--save-models", default="", help="keep the trained models in this folder")


def _counts(text: str) -> list[int]:
    out = sorted({int(t) for t in text.split(",") if t.strip()})
    if any(n < 2 for n in out):
        raise SystemExit(f"--corrected counts must be at least 2, not {text!r}")
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from model_zoo.data.dataset import load_dataset

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    kinds = {k.strip() for k in args.sources.split(",") if k.strip()}
    unknown = kinds - {"baselines", "cam", "weak", "corrected"}
    if unknown:
        raise SystemExit(f"unknown --sources {sorted(unknown)}: baselines, cam, weak, corrected")
    dataset = load_dataset(args.data, verify=False)
    defects = check_mask_dataset(dataset)
    split = grouped_split(dataset, args.test_fraction, args.seed, args.group)
    train = sources.cap_per_class(split.train, args.max_train, args.seed)
    test = sources.TestSet.of(split.test, defects, args.max_test, args.seed)
    print(
        f"{len(train)} training images ({len(split.train)} in the training part; grouped by "
        f"photo: {split.grouped}), {len(test.defect)} test defect images with masks, "
        f"{len(test.background)} test no_defect images"
    )
    context = sources.Context(args, list(dataset.classes), defects, train, test)
    results, records = sources.score_all(context, kinds, _counts(args.corrected))
    report = _report(args, dataset, split, context, results, records, started)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(results_table(results))
    print("summary:", json.dumps(report["summary"]))
    if args.plot:
        plot(report, args.plot)
        print(f"plot: {args.plot}")
    print(f"report: {args.json}")
    return 0


def _report(args, dataset, split, context, results, records, started) -> dict:
    return {
        "command": "python -m model_zoo eval-masks " + " ".join(_argv(args)),
        "data": str(args.data),
        "classes": list(dataset.classes),
        "defect_classes": context.defects,
        "split": {
            "seed": args.seed,
            "test_fraction": args.test_fraction,
            "grouped_by_photo": split.grouped,
            "train_images": len(split.train),
            "train_images_used": len(context.train),
            "test_images": len(split.test),
            "test_defect_images": len(context.test.defect),
            "test_no_defect_images": len(context.test.background),
        },
        "classifier": context.classifier_record,
        "summary": summary(results),
        "results": results,
        "training": records,
        "seconds": round(time.perf_counter() - started, 1),
    }


def summary(results: dict[str, dict]) -> dict:
    """The best naive baseline, and each learned source's IoU against it."""
    baselines = {k: r["overall"]["iou"] for k, r in results.items() if r["kind"] == "baseline"}
    out: dict = {}
    if baselines:
        best = max(baselines, key=baselines.get)
        out["best_baseline"] = best
        out["best_baseline_iou"] = baselines[best]
    for name, row in results.items():
        if row["kind"] != "baseline":
            entry = {k: row["overall"][k] for k in FIGURES}
            if baselines:
                entry["iou_vs_best_baseline"] = row["overall"]["iou"] / max(1e-9, out[
                    "best_baseline_iou"])  # fmt: skip
            out[name] = entry
    return out


def _argv(args) -> list[str]:
    out = ["--data", str(args.data), "--json", str(args.json), "--corrected", args.corrected]
    out += ["--sources", args.sources, "--model", args.model, "--epochs", str(args.epochs)]
    for flag in ("max_train", "input_size", "crop_size", "seg_epochs", "weak_epochs", "weak_rounds",
                 "weak_images", "max_test"):  # fmt: skip
        if getattr(args, flag):
            out += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.loss:
        out += ["--loss", args.loss]
    if getattr(args, "weak_model", ""):
        out += ["--weak-model", args.weak_model]
    if args.corrected_start != "weak":
        out += ["--corrected-start", args.corrected_start]
    if args.encoder != "efficientnet_lite0":
        out += ["--encoder", args.encoder]
    return out + ["--seed", str(args.seed)]


def results_table(results: dict[str, dict]) -> str:
    rows = [
        {
            "source": name,
            **{k: r["overall"][k] for k in FIGURES},
            "prec2": r["overall"]["precision_tol2"],
            "rec2": r["overall"]["recall_tol2"],
            "props": r["overall"]["proposals_per_image"],
            "clean": r.get("no_defect_clean"),
        }
        for name, r in results.items()
    ]
    text = format_table(rows, digits={"props": 1}, headers={"accepted": "acc≥.5"})
    return text + (
        "\n(iou: mean per image; f1_tol2/prec2/rec2: 2-pixel tolerance; acc≥.5: share of "
        "proposals with IoU ≥ 0.5; clean: share of no_defect test images left without a mask)"
    )


def plot(report: dict, path: str | Path) -> Path:
    """Grouped bars: the four figures of every source (numbers only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    names = list(results)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names)), 3.8))
    width = 0.8 / len(FIGURES)
    x = np.arange(len(names))
    for k, figure in enumerate(FIGURES):
        values = [results[n]["overall"][figure] for n in names]
        ax.bar(x + (k - 1.5) * width, values, width, label=figure)
    ax.set_xticks(x, names, rotation=25, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    split = report["split"]
    ax.set_title(
        f"{Path(report['data']).name}: {split['test_defect_images']} test defect images "
        f"(seed {split['seed']})",
        fontsize=9,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
