"""``python -m model_zoo finetune-diffusion``: a LoRA for one defect class (DreamBooth-style).

Fine-tunes LoRA adapters of a Stable Diffusion UNet on ``--images`` (the few real images of a
rare defect) with ``--prompt``; ``--prior-prompt`` adds prior preservation. Resumable: run the
same command again (with a larger ``--steps`` to train longer) and it continues from
``OUT/checkpoint/``. ``generate --lora OUT`` uses the result.
"""

from __future__ import annotations

import argparse
import sys

from model_zoo.diffusion.lora import LoraSettings, train_lora
from model_zoo.diffusion.pipeline import DiffusionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="hub id or local pipeline directory")
    parser.add_argument("--images", required=True, help="folder of the class's real images")
    parser.add_argument(
        "--prompt", required=True, help='e.g. "a photo of a big crack on a concrete wall"'
    )
    parser.add_argument("--out", required=True, help="LoRA output directory (resumed if present)")
    parser.add_argument("--steps", type=int, default=400, help="total optimiser steps")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--rank", type=int, default=4, help="LoRA rank")
    parser.add_argument("--resolution", type=int, default=None, help="default: the model's size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prior-prompt", default=None, help='prior preservation, e.g. "concrete wall"'
    )
    parser.add_argument("--prior-images", default=None, help="default: generated into OUT/prior/")
    parser.add_argument("--num-prior", type=int, default=20, help="prior images to generate")
    parser.add_argument("--prior-weight", type=float, default=1.0)
    parser.add_argument("--prior-steps", type=int, default=30, help="denoising steps of priors")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA), fp16, bf16, fp32")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    settings = LoraSettings(
        model=args.model,
        images=args.images,
        prompt=args.prompt,
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        rank=args.rank,
        resolution=args.resolution,
        seed=args.seed,
        prior_prompt=args.prior_prompt,
        prior_images=args.prior_images,
        num_prior=args.num_prior,
        prior_weight=args.prior_weight,
        prior_steps=args.prior_steps,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        dtype=args.dtype,
        progress=not args.quiet,
    )
    try:
        result = train_lora(settings)
    except (DiffusionError, ValueError, OSError, RuntimeError) as exc:
        print(f"finetune-diffusion: error: {exc}", file=sys.stderr)
        return 2
    trained = result.steps - result.resumed_at
    resumed = f" (resumed at step {result.resumed_at})" if result.resumed_at else ""
    last = result.history[-1]["loss"] if result.history else float("nan")
    print(
        f"LoRA trained {trained} step(s) to step {result.steps}{resumed} in {result.seconds:.1f}s, "
        f"last loss {last:.4f}; weights: {result.out}/pytorch_lora_weights.safetensors "
        f"(use: generate --lora {result.out})"
    )
    return 0
