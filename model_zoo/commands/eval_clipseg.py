"""Evaluate CLIPSeg prompt ensembles on images with foreground masks.

    python -m model_zoo eval-clipseg --data DIR --ensembles E1,E2,E3 --json OUT [--plot OUT.png]

``DIR`` is a dataset directory with ``DIR/foreground/<class>/<name>.png`` masks (``python -m
model_zoo synth --scenes --out DIR``). Every image is encoded once; the logits of the union of
all ensembles' prompts are computed once per image and each ensemble combines its own subset.

Per ensemble: foreground IoU (pooled over all pixels and mean per image), background IoU, pixel
accuracy, mean uncertainty, and how well the uncertainty predicts errors: the error rate in the
most uncertain 10 % of pixels vs the other 90 %, and the AUROC of uncertainty as an error
detector (0.5 = no better than chance).

With random weights (``tiny-clipseg``, ``random-clipseg-base``) the numbers measure nothing but
the pipeline; the paper's trends need the real checkpoint (``--model clipseg-rd64-refined``, or a
directory holding it).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from model_zoo.clipseg.ensembles import (
    COMBINE_RULES,
    UNCERTAINTY_KINDS,
    combine_logits,
    get_ensemble,
)
from model_zoo.clipseg.model import DEFAULT_CLIPSEG, load_clipseg
from model_zoo.data.dataset import load_dataset, open_image, open_mask
from model_zoo.table import format_table

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory with foreground/ masks")
    parser.add_argument("--ensembles", default="E1,E2,E3", help="comma-separated presets")
    parser.add_argument("--json", required=True, help="write the metrics here")
    parser.add_argument("--plot", help="write a PNG figure here")
    parser.add_argument("--model", default=DEFAULT_CLIPSEG, help="zoo name, directory or hub id")
    parser.add_argument("--model-dir", default=None, help="MODEL_DIR (for zoo/<name> copies)")
    parser.add_argument("--combine", default="softmax", choices=COMBINE_RULES)
    parser.add_argument("--uncertainty", default="entropy", choices=UNCERTAINTY_KINDS)
    parser.add_argument("--limit", type=int, default=0, help="at most this many images (0: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")


def _auroc(scores: np.ndarray, positives: np.ndarray) -> float | None:
    if positives.all() or not positives.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positives, scores))


def _iou(pred: np.ndarray, truth: np.ndarray) -> float | None:
    union = int((pred | truth).sum())
    return None if union == 0 else int((pred & truth).sum()) / union


def evaluate(
    data: str | Path,
    ensembles: list[str],
    *,
    model_name: str = DEFAULT_CLIPSEG,
    model_dir: str | None = None,
    combine: str = "softmax",
    uncertainty: str = "entropy",
    limit: int = 0,
    batch_size: int = 8,
    device: str = "auto",
    max_pixels_for_auroc: int = 2_000_000,
) -> dict:
    dataset = load_dataset(data)
    samples = [s for s in dataset if s.foreground_path is not None]
    if not samples:
        raise SystemExit(
            f"{data}: no image has a foreground mask (DIR/foreground/<class>/<name>.png). "
            "Generate some with `python -m model_zoo synth --scenes --out DIR`."
        )
    if limit:
        samples = samples[:limit]
    presets = {name: get_ensemble(name) for name in ensembles}
    model = load_clipseg(model_name, model_dir=model_dir, device=device)
    started = time.perf_counter()
    per = _pixels(model, samples, presets, batch_size, combine, uncertainty)
    seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    results = {
        name: _scores(presets[name], acc, rng, max_pixels_for_auroc) for name, acc in per.items()
    }
    return {
        "data": str(data),
        "images": len(samples),
        "model": model.version,
        "random_weights": model.source.kind == "random",
        "combine": combine,
        "uncertainty": uncertainty,
        "prompts_encoded": model.stats["prompts_encoded"],
        "images_encoded": model.stats["images_encoded"],
        "seconds": round(seconds, 3),
        "ensembles": results,
    }


def _pixels(model, samples, presets, batch_size, combine, uncertainty) -> dict[str, dict]:
    """Per ensemble: per-image foreground IoU and every pixel's prediction, truth and
    uncertainty. Each image is encoded once, with the union of the ensembles' prompts."""
    union = list(dict.fromkeys(p for e in presets.values() for p in e.prompts))
    index = {p: i for i, p in enumerate(union)}
    per = {name: {"fg_iou": [], "pred": [], "truth": [], "unc": []} for name in presets}
    for start in range(0, len(samples), max(1, batch_size)):
        chunk = samples[start : start + batch_size]
        images = [open_image(s.image_path) for s in chunk]
        logits = model.prompt_logits(images, union, batch_size=batch_size)
        for sample, image, member in zip(chunk, images, logits, strict=True):
            truth = open_mask(sample.foreground_path, size=image.size)
            for name, ens in presets.items():
                rows = [index[p] for p in ens.prompts]
                res = combine_logits(
                    member[rows], len(ens.foreground), truth.shape, combine, uncertainty
                )
                acc = per[name]
                acc["fg_iou"].append(_iou(res.foreground, truth))
                acc["pred"].append(res.foreground.ravel())
                acc["truth"].append(truth.ravel())
                acc["unc"].append(res.uncertainty.ravel())
    return per


def _scores(ensemble, acc: dict, rng: np.random.Generator, max_pixels_for_auroc: int) -> dict:
    """IoUs, accuracy, and how well the uncertainty points at the wrong pixels."""
    pred, truth, unc = (np.concatenate(acc[k]) for k in ("pred", "truth", "unc"))
    wrong = pred != truth
    # the 10 % most uncertain pixels; ties (e.g. a saturated random model) can put more than 10 % above the cut
    order = np.argsort(-unc, kind="stable")
    top = np.zeros_like(wrong)
    top[order[: max(1, len(unc) // 10)]] = True
    pick = (
        rng.choice(len(unc), max_pixels_for_auroc, replace=False)
        if len(unc) > max_pixels_for_auroc
        else slice(None)
    )
    ious = [v for v in acc["fg_iou"] if v is not None]
    return {
        "foreground": list(ensemble.foreground),
        "background": list(ensemble.background),
        "foreground_iou": _iou(pred, truth),
        "foreground_iou_mean_per_image": float(np.mean(ious)) if ious else None,
        "background_iou": _iou(~pred, ~truth),
        "pixel_accuracy": float(1.0 - wrong.mean()),
        "mean_uncertainty": float(unc.mean()),
        "error_rate_top10_uncertain": float(wrong[top].mean()),
        "error_rate_rest": float(wrong[~top].mean()) if (~top).any() else None,
        "uncertainty_error_auroc": _auroc(unc[pick], wrong[pick]),
    }


def plot(report: dict, out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["ensembles"])
    rows = report["ensembles"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(names))
    axes[0].bar(x - 0.2, [rows[n]["foreground_iou"] or 0 for n in names], 0.4, label="foreground")
    axes[0].bar(x + 0.2, [rows[n]["background_iou"] or 0 for n in names], 0.4, label="background")
    axes[0].set_xticks(x, names)
    axes[0].set_ylim(0, 1)
    axes[0].set_title("IoU")
    axes[0].legend()
    axes[1].bar(
        x - 0.2,
        [rows[n]["error_rate_top10_uncertain"] for n in names],
        0.4,
        label="most uncertain 10 %",
    )
    axes[1].bar(x + 0.2, [rows[n]["error_rate_rest"] or 0 for n in names], 0.4, label="rest")
    axes[1].set_xticks(x, names)
    axes[1].set_ylim(0, 1)
    axes[1].set_title("error rate")
    axes[1].legend()
    weights = " (random weights)" if report["random_weights"] else ""
    fig.suptitle(f"{report['model']}{weights}, {report['images']} images")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.ensembles.split(",") if n.strip()]
    if not names:
        raise SystemExit("--ensembles is empty; give presets such as E1,E2,E3")
    report = evaluate(
        args.data,
        names,
        model_name=args.model,
        model_dir=args.model_dir,
        combine=args.combine,
        uncertainty=args.uncertainty,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)
    print(f"{report['model']}: {report['images']} images in {report['seconds']} s")
    columns = {
        "foreground_iou": "fg IoU",
        "background_iou": "bg IoU",
        "pixel_accuracy": "acc",
        "mean_uncertainty": "unc",
        "error_rate_top10_uncertain": "err@top10%",
        "error_rate_rest": "err@rest",
        "uncertainty_error_auroc": "AUROC",
    }
    rows = [{"ensemble": name, **r} for name, r in report["ensembles"].items()]
    print(format_table(rows, ["ensemble", *columns], headers=columns))
    if report["random_weights"]:
        print("random weights: these numbers test the pipeline, not CLIPSeg")
    return 0
