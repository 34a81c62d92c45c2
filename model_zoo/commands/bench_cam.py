"""``python -m model_zoo bench-cam``: Choices + CAM masks next to the bare forward pass, same run.

On ``--batch`` synthetic concrete images of ``--size`` pixels (``model_zoo.data.synth`` scenes
of crack / spalling / rust, so maps and ridge filters see real structure), per configuration
(``--configs``: ``method/layers+refinements``, e.g. ``gradcam/last+ridge``): milliseconds per
image for the shared pass that gives the Choices probabilities *and* the masks of the top
``--explain`` classes of every image (pre-processing, forward, partial backward, maps,
refinements, proposals at the original size), the bare forward of the same model on the
prepared tensor (``inference_mode``), and the Choices alone (``predict_proba``, pre-processing
included), their ratios, the same in process CPU time (all threads; steadier than wall-clock on a machine
shared with other jobs), and the process's peak resident memory (``ru_maxrss``; it only grows).
CPU, ``--threads`` torch threads; best of ``--repeats``.

``--segmentation ENCODER_OR_FOLDER`` adds the rows of the segmentation masks in tiles at full
resolution (:mod:`model_zoo.commands.segmentation_cost`) and the peak memory of one
``--memory-size`` photo.
"""

from __future__ import annotations

import argparse
import json
import sys

from PIL import Image

from model_zoo.commands.timing import best_seconds, peak_mb
from model_zoo.table import format_table

_HEADERS = {
    "config": "Choices + masks",
    "ms_per_image": "ms/img",
    "ratio_to_forward": "x forward",
    "ratio_to_choices": "x Choices",
    "cpu_ms_per_image": "CPU ms/img",
    "cpu_ratio_to_forward": "x forward (CPU)",
    "regions_per_image": "regions",
    "peak_rss_mb": "peak MB",
}
_DIGITS = {
    "ms_per_image": 1,
    "ratio_to_forward": 2,
    "ratio_to_choices": 2,
    "cpu_ms_per_image": 1,
    "cpu_ratio_to_forward": 2,
    "regions_per_image": 1,
    "peak_rss_mb": 0,
}

DEFAULT_CONFIGS = "gradcam/last,gradcam/last+ridge,gradcam/last+guided+ridge,layercam/multi+ridge"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help="comma list method/layers+refine"
    )
    parser.add_argument("--explain", type=int, default=1, help="classes explained per image")
    parser.add_argument("--size", type=int, default=1024, help="image side, pixels")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="", help="also write the rows here")
    parser.add_argument(
        "--segmentation", default="", help="segmentation folder or encoder name: tiled rows too"
    )
    parser.add_argument("--seg-max-sides", default="0,512", help="comma list (0: full size)")
    parser.add_argument("--memory-size", type=int, default=4000, help="photo side for memory")


def parse_config(spec: str):
    """``"gradcam/last+ridge"`` -> a :class:`CamConfig` (score threshold 0: forced classes)."""
    from model_zoo.cam.pipeline import CamConfig

    head, _, refine = spec.strip().partition("+")
    method, _, layers = head.partition("/")
    return CamConfig(method=method, layers=layers or "last", refine=refine, score_threshold=0.0)


def scene_images(size: int, count: int) -> list[Image.Image]:
    """Synthetic defect images (``model_zoo.data.synth``, rendered at 256 px) scaled to
    ``size`` pixels."""
    from model_zoo.data.synth import render_sample, sample_rng

    kinds = ["crack", "spalling", "rust", "net_crack"]
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        pixels, _, _ = render_sample(kind, sample_rng(0, kind, i), size=256)
        out.append(Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR))
    return out


def config_row(classifier, images, forced, spec: str, base: dict, repeats: int) -> dict:
    """One table row: Choices + masks of configuration ``spec`` against the ``base`` times."""
    from model_zoo.cam.pipeline import classify_and_segment

    config = parse_config(spec)
    found: list = []

    def once():
        found.append(classify_and_segment(classifier, images, config, forced=forced))

    per_image, per_image_cpu = (t / len(images) for t in best_seconds(once, repeats))
    regions = sum(len(m.proposals) for row in found[-1].masks for m in row) / len(images)
    return {
        "config": spec,
        "ms_per_image": 1000 * per_image,
        "ratio_to_forward": per_image / base["forward"],
        "ratio_to_choices": per_image / base["choices"],
        "cpu_ms_per_image": 1000 * per_image_cpu,
        "cpu_ratio_to_forward": per_image_cpu / base["forward_cpu"],
        "regions_per_image": regions,
        "peak_rss_mb": peak_mb(),
    }


def run(args: argparse.Namespace) -> int:
    import torch

    from model_zoo.cam.inputs import cam_input
    from model_zoo.classifier.model import load_classifier

    torch.set_num_threads(args.threads)
    classes = ["crack", "spalling", "rust", "net_crack", "no_defect"]
    try:
        classifier = load_classifier(args.model, classes, device="cpu", multi_label=True)
    except KeyError as exc:  # not a zoo name, a directory or a hub id
        print(f"bench-cam: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    images = scene_images(args.size, args.batch)
    pixel_values = cam_input(classifier, images)
    forward, forward_cpu = (
        t / args.batch for t in best_seconds(lambda: classifier.logits(pixel_values), args.repeats)
    )
    choices, _ = (
        t / args.batch for t in best_seconds(lambda: classifier.predict_proba(images), args.repeats)
    )
    print(
        f"{args.model}, {args.batch} images of {args.size}x{args.size}, {args.threads} threads, "
        f"{args.explain} class(es) explained per image; bare forward {1000 * forward:.1f} "
        f"ms/img ({1000 * forward_cpu:.1f} CPU ms/img), Choices alone (pre-processing included) "
        f"{1000 * choices:.1f} ms/img, "
        f"peak RSS {peak_mb():.0f} MB"
    )
    k = max(1, min(args.explain, len(classifier.classes)))
    forced = [list(range(len(classifier.classes)))[:k] for _ in images]
    base = {"forward": forward, "forward_cpu": forward_cpu, "choices": choices}
    specs = [c.strip() for c in args.configs.split(",") if c.strip()]
    rows = [config_row(classifier, images, forced, spec, base, args.repeats) for spec in specs]
    memory = _segmentation(args, classifier, images, base, rows)
    print(format_table(rows, digits=_DIGITS, headers=_HEADERS))
    if memory:
        print(
            f"one {args.memory_size}x{args.memory_size} photo through the tiled segmentation "
            f"(max side {memory['max_side']}): peak RSS {memory['peak_mb']:.0f} MB (a fresh "
            f"process holding the model: {memory['before_mb']:.0f} MB), {memory['seconds']:.1f} s"
        )
    if args.json:
        summary = {
            "forward_ms": 1000 * forward,
            "forward_cpu_ms": 1000 * forward_cpu,
            "choices_ms": 1000 * choices,
            "rows": rows,
            "photo_memory": memory,
        }
        with open(args.json, "w") as fh:
            json.dump({"model": args.model, "size": args.size, **summary}, fh, indent=2)
    return 0


def _segmentation(args, classifier, images, base: dict, rows: list) -> dict | None:
    """The tiled segmentation rows (appended to ``rows``) and the big photo's memory."""
    if not args.segmentation:
        return None
    from model_zoo.commands import segmentation_cost as seg

    model = seg.load_model(args.segmentation)
    sides = [int(s) for s in args.seg_max_sides.split(",") if s.strip()]
    rows += seg.segmentation_rows(classifier, model, images, base, sides, args.repeats)
    max_side = max(sides) if 0 not in sides else model.max_side
    memory = seg.photo_memory(args.segmentation, args.memory_size, max_side, args.threads)
    return {**memory, "max_side": max_side, "size": args.memory_size}
