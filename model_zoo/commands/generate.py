"""``python -m model_zoo generate``: synthetic defect images paired with defect-free twins.

Each sample starts from one seeded latent for both prompts (``--prompt`` with the defect,
``--paired-prompt`` without); the candidate mask is where the two images differ (colour, and
with ``--attention-token`` the UNet's cross-attention to that word), thresholded and cleaned.
Output: the dataset layout (``images/<class>/``, ``masks/<class>/``, the twin under
``images/no_defect/``) and ``manifest.json`` marking every file synthetic with its prompt, seed
and model. Image quality needs real weights and a GPU (see docs/diffusion.md).
"""

from __future__ import annotations

import argparse
import sys
import time

from model_zoo.diffusion.mask import MaskSettings, pair_mask, parse_threshold
from model_zoo.diffusion.paired import GenerationSettings, generate_pair
from model_zoo.diffusion.pipeline import DiffusionError, load_pipeline, pipeline_name
from model_zoo.diffusion.writer import PairWriter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="hub id or local pipeline directory")
    parser.add_argument("--lora", default=None, help="LoRA directory from finetune-diffusion")
    parser.add_argument("--prompt", required=True, help='e.g. "big crack on a concrete wall"')
    parser.add_argument("--paired-prompt", required=True, help='e.g. "concrete wall"')
    parser.add_argument("--class", dest="class_name", required=True, help="defect class folder")
    parser.add_argument("--twin-class", default="no_defect", help="class folder of the twins")
    parser.add_argument("--n", type=int, required=True, help="number of pairs to generate")
    parser.add_argument("--out", required=True, help="output dataset directory (empty)")
    parser.add_argument("--append", action="store_true", help="add to a generated --out")
    parser.add_argument("--seed", type=int, default=0, help="pair i uses seed + i")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--height", type=int, default=None, help="default: the model's size")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument(
        "--attention-token",
        default=None,
        help="a word of --prompt (e.g. crack): its cross-attention map joins the colour difference",
    )
    parser.add_argument("--mask-threshold", default="otsu", help="otsu or a score in (0, 1)")
    parser.add_argument("--min-area", type=int, default=16, help="smallest mask object (pixels)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA), fp16, bf16, fp32")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check(args: argparse.Namespace) -> None:
    for flag, text in (("--prompt", args.prompt), ("--paired-prompt", args.paired_prompt)):
        if not str(text or "").strip():
            raise DiffusionError(f"{flag} is empty: describe the image to generate")
    if args.n < 1:
        raise DiffusionError(f"--n must be at least 1, not {args.n}")
    if args.steps < 1:
        raise DiffusionError(f"--steps must be at least 1, not {args.steps}")
    if args.min_area < 0:
        raise DiffusionError(f"--min-area must be >= 0, not {args.min_area}")
    if args.prompt.strip() == args.paired_prompt.strip():
        print(
            "generate: warning: the two prompts are equal, every mask will be empty",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    try:
        _check(args)
        mask_settings = MaskSettings(
            threshold=parse_threshold(args.mask_threshold), min_area=args.min_area
        )
        writer = PairWriter(args.out, args.class_name, args.twin_class, append=args.append)
        pipe = load_pipeline(args.model, device=args.device, dtype=args.dtype, lora=args.lora)
        settings = GenerationSettings(
            steps=args.steps,
            guidance=args.guidance,
            height=args.height,
            width=args.width,
            negative_prompt=args.negative_prompt,
            attention_token=args.attention_token,
        )
        info = {
            "model": pipeline_name(args.model),
            "lora": pipeline_name(args.lora) if args.lora else None,
            "prompt": args.prompt,
            "paired_prompt": args.paired_prompt,
            "extra": {"steps": args.steps, "guidance": args.guidance},
        }
        started = time.perf_counter()
        seeds = range(args.seed, args.seed + args.n)
        for seed in tqdm(seeds, desc="generate", unit="pair", disable=args.quiet, file=sys.stderr):
            sample = generate_pair(pipe, args.prompt, args.paired_prompt, seed, settings)
            writer.write(
                sample, pair_mask(sample.defect, sample.twin, sample.attention, mask_settings), info
            )
    except (DiffusionError, ValueError, OSError) as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(
        f"wrote {args.n} pairs ({2 * args.n} images, {2 * args.n / seconds:.2f} images/s) to "
        f"{writer.out}: images/{args.class_name}/, masks/{args.class_name}/, "
        f"images/{args.twin_class}/, manifest.json"
    )
    return 0
