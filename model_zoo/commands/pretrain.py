"""``python -m model_zoo pretrain``: domain pretraining, by the kind of backbone continued.

``--from`` a CNN (``efficientnet-lite0``, a timm folder) continues it with SimSiam
(:mod:`model_zoo.pretrain.simsiam`); ``--from scratch`` or a ViT (``vit-mae-base``,
``facebook/vit-mae-base``) trains a masked autoencoder (:mod:`model_zoo.pretrain.mae`). Both
read the same options.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

from model_zoo.pretrain.mae import (
    CHECKPOINT,
    DEFAULT_ENTRY,
    ENTRY_FILE,
    PRESETS,
    PretrainConfig,
    PretrainError,
    build_default,
    check_out_name,
    pretrain,
)
from model_zoo.pretrain.simsiam import SimSiamConfig, is_cnn_base, pretrain_simsiam
from model_zoo.registry import default_model_dir, zoo_local_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--images", help="folder of unlabeled images (searched recursively)")
    what.add_argument(
        "--project",
        help="Label Studio project id: export its images first with "
        "`python -m ml_backend export-images --project ID --out DIR`, then use --images DIR",
    )
    what.add_argument(
        "--default",
        action="store_true",
        help=f"build the embedded default {DEFAULT_ENTRY!r} now (otherwise built on first use)",
    )
    parser.add_argument(
        "--from",
        dest="base",
        default="scratch",
        help="'scratch' (default) or the checkpoint to continue: zoo name, directory or hub id",
    )
    parser.add_argument("--out", help="name of the new zoo entry (MODEL_DIR/zoo/<out>/)")
    parser.add_argument(
        "--preset", default="small", choices=sorted(PRESETS), help="architecture for --from scratch"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument(
        "--image-size", type=int, default=None, help="input side (--from scratch only)"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak learning rate (default 1e-3 scratch, 1e-4 continuing)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, help="steps between checkpoints"
    )
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    _add_simsiam_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--model-dir",
        default=None,
        help="where zoo entries live (default: $MODEL_DIR or ./data/models)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_simsiam_arguments(parser: argparse.ArgumentParser) -> None:
    simsiam = parser.add_argument_group("SimSiam (--from a CNN)")
    simsiam.add_argument(
        "--train-blocks",
        type=int,
        default=None,
        help="train only the top N blocks (the rest adapt their BatchNorm statistics only): "
        "about half the CPU time per step; default: all",
    )
    simsiam.add_argument(
        "--min-scale",
        type=float,
        default=SimSiamConfig.min_scale,
        help=f"smallest crop, as a share of the image's area (default {SimSiamConfig.min_scale})",
    )
    simsiam.add_argument(
        "--blur",
        type=float,
        default=SimSiamConfig.blur,
        help="probability of a Gaussian blur in a view; blur can erase hairline cracks "
        f"(default {SimSiamConfig.blur})",
    )
    simsiam.add_argument(
        "--learned-bn-statistics",
        action="store_true",
        help="keep the BatchNorm statistics of SimSiam's augmented views (default: the base's "
        "are put back at export; the learned ones lost 19 points on real wall tiles)",
    )


def run(args: argparse.Namespace) -> int:
    model_dir = Path(args.model_dir or default_model_dir())
    if not args.default and args.project is None and is_cnn_base(args.base):
        return run_simsiam(args, model_dir)
    try:
        if args.project is not None:
            raise PretrainError(
                "model_zoo does not talk to Label Studio. Export the project's images first, "
                f"then pretrain on the folder:\n  python -m ml_backend export-images --project "
                f"{args.project} --out data/project-{args.project}\n  python -m model_zoo pretrain "
                f"--images data/project-{args.project} --out <name>"
            )
        if args.default:
            return _build_default(args, model_dir)
        _check_new_entry(args, model_dir)
        result = pretrain(args.images, _config(args), model_dir=model_dir)
    except KeyboardInterrupt:
        return 130
    except (PretrainError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"pretrain: error: {message}", file=sys.stderr)
        return 2
    resumed = f", resumed at step {result.resumed_at_step}" if result.resumed_at_step else ""
    print(
        f"pretrained {args.out} on {result.images} images ({result.skipped} skipped) for "
        f"{result.epochs} epochs / {result.steps} steps in {result.seconds:.0f} s{resumed}; "
        f"final reconstruction loss {result.final_loss:.4f}"
    )
    print(
        f"zoo entry: {result.entry_dir}  (use it by name: --model {args.out}, CLASSIFIER_MODEL={args.out} with MODEL_DIR={model_dir})"
    )
    print(f"previews:  {result.previews[-1]} and {result.entry_dir / 'reconstruction.png'}")
    return 0


def _build_default(args: argparse.Namespace, model_dir: Path) -> int:
    entry = zoo_local_dir(model_dir, DEFAULT_ENTRY)
    if (entry / "config.json").is_file() and not args.restart:
        print(f"{DEFAULT_ENTRY} is already built in {entry} (--restart rebuilds it)")
        return 0
    if args.restart:
        shutil.rmtree(model_dir / "pretrain" / DEFAULT_ENTRY, ignore_errors=True)
    build_default(entry, progress=not args.quiet)
    print(f"built {DEFAULT_ENTRY} in {entry}")
    return 0


def _check_new_entry(args: argparse.Namespace, model_dir: Path) -> None:
    """``--out`` names a new entry, or one whose run is to be resumed or restarted."""
    if not args.out:
        raise PretrainError("--out NAME is required: the name of the new zoo entry")
    check_out_name(args.out)
    entry = zoo_local_dir(model_dir, args.out)
    work_ckpt = model_dir / "pretrain" / args.out / CHECKPOINT
    if (entry / ENTRY_FILE).is_file() and not work_ckpt.is_file() and not args.restart:
        raise PretrainError(
            f"zoo entry {args.out!r} already exists in {entry}; add --restart to train it "
            "again, or choose another --out"
        )


def _config(args: argparse.Namespace) -> PretrainConfig:
    return PretrainConfig(
        out=args.out,
        base=args.base,
        preset=args.preset,
        epochs=args.epochs,
        mask_ratio=args.mask_ratio,
        image_size=args.image_size,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        checkpoint_every=max(1, args.checkpoint_every),
        progress=not args.quiet,
        restart=args.restart,
        device=args.device,
    )


def run_simsiam(args: argparse.Namespace, model_dir: Path) -> int:
    """``pretrain --from <CNN>``: SimSiam (:func:`~model_zoo.pretrain.simsiam.pretrain_simsiam`)."""
    try:
        if not args.out:
            raise PretrainError("--out NAME is required: the name of the new zoo entry")
        result = pretrain_simsiam(
            args.images,
            SimSiamConfig(
                out=args.out,
                base=args.base,
                epochs=args.epochs,
                batch_size=args.batch,
                lr=args.lr or SimSiamConfig.lr,
                image_size=args.image_size,
                min_scale=args.min_scale,
                blur=args.blur,
                learned_bn_statistics=args.learned_bn_statistics,
                train_blocks=args.train_blocks,
                seed=args.seed,
                checkpoint_every=max(1, args.checkpoint_every),
                restart=args.restart,
                device=args.device,
                progress=not args.quiet,
            ),
            model_dir=model_dir,
        )
    except KeyboardInterrupt:
        return 130
    except (PretrainError, ValueError, KeyError, OSError) as exc:
        print(f"pretrain: error: {exc}", file=sys.stderr)
        return 2
    resumed = f", resumed at step {result.resumed_at_step}" if result.resumed_at_step else ""
    losses = ", ".join(f"{v:.3f}" for v in result.epoch_losses)
    stds = ", ".join(f"{v:.3f}" for v in result.representation_std)
    print(
        f"SimSiam-pretrained {args.out} from {args.base} on {result.images} images "
        f"({result.skipped} skipped): {result.steps} steps in {result.seconds:.0f} s{resumed}\n"
        f"loss per epoch (-1 is perfect agreement): {losses}\n"
        f"representation std per epoch (healthy ~{1 / math.sqrt(SimSiamConfig.hidden_dim):.3f}, "
        f"0 = collapsed): {stds}\n"
        f"zoo entry: {result.entry_dir}  (use it by name: --model {args.out}, "
        f"CLASSIFIER_MODEL={args.out} with MODEL_DIR={model_dir})"
    )
    return 0
