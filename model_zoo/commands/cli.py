"""Command line of the model zoo: ``python -m model_zoo COMMAND [options]``.

Each command lives in its own module, which exposes ``add_arguments(parser)`` and
``run(args) -> int``.  ``COMMANDS`` maps the command name to that module; adding a
command is one module plus one entry here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "synth": (
        "model_zoo.commands.synth",
        "write synthetic concrete-inspection images, masks and tasks",
    ),
    "list": ("model_zoo.commands.list_models", "list the models of the zoo"),
    "finetune": ("model_zoo.commands.finetune", "fine-tune a classifier on a dataset directory"),
    "eval-clipseg": (
        "model_zoo.commands.eval_clipseg",
        "IoU and uncertainty of CLIPSeg prompt ensembles",
    ),
    "bench-clipseg": (
        "model_zoo.commands.bench_clipseg",
        "CLIPSeg: prompt ensemble vs one prompt vs naive",
    ),
    "pretrain": (
        "model_zoo.commands.pretrain",
        "domain-pretrain a backbone on unlabeled images: SimSiam for CNNs, MAE for ViTs",
    ),
    "finetune-compare": (
        "model_zoo.commands.finetune_compare",
        "fine-tune backbones on growing label budgets and compare (JSON + plot)",
    ),
    "bench-pretrain": (
        "model_zoo.commands.bench_pretrain",
        "MAE pretraining throughput and memory",
    ),
    "eval-cam": (
        "model_zoo.commands.eval_cam",
        "evaluate CAM mask proposals against ground-truth masks",
    ),
    "eval-masks": (
        "model_zoo.commands.eval_masks",
        "every mask source (baselines, CAM, weakly supervised, corrected-N) on real photos",
    ),
    "eval-measure": (
        "model_zoo.commands.eval_measure",
        "errors of the region measures (length, width) on synthetic cracks of known width",
    ),
    "bench-cam": (
        "model_zoo.commands.bench_cam",
        "per-image time and memory of CAM mask proposals",
    ),
    "simulate-al": (
        "model_zoo.commands.simulate_al",
        "simulate active learning: strategies compared",
    ),
    "bench-interactive": (
        "model_zoo.commands.bench_interactive",
        "interactive masks: first click vs later clicks on the same image, per mask source",
    ),
    "eval-interactive": (
        "model_zoo.commands.eval_interactive",
        "interactive masks on photos with true masks: IoU after 1 and N simulated clicks",
    ),
    "bench-acquisition": (
        "model_zoo.commands.bench_acquisition",
        "scoring time of each acquisition strategy on cached feature vectors",
    ),
    "generate": (
        "model_zoo.commands.generate",
        "diffusion: synthetic defect images paired with defect-free twins, masks from the pair",
    ),
    "finetune-diffusion": (
        "model_zoo.commands.finetune_diffusion",
        "diffusion: fine-tune a LoRA on the images of one defect class (DreamBooth-style)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_zoo",
        description="fm-inspect model zoo: models, data and evaluations, no Label Studio needed.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
