"""``python -m model_zoo finetune --data DIR --model NAME --out DIR``: fine-tune a classifier.

Reads the dataset layout ``DIR/images/<class>/<name>.png``, holds out a stratified test split
(and, from the rest, a validation split for early stopping, so the test figure is unseen),
fine-tunes with the backend's recipe (:class:`~model_zoo.classifier.training.TrainConfig`: a
linear probe, then the top blocks), prints the metrics and saves a model directory that
``CLASSIFIER_MODEL`` (or ``model_name`` in a label config) can point at.

``--unlabeled DIR`` gives it a folder of unlabeled images of the same domain (searched
recursively; at most ``--unlabeled-max`` of them, a seeded draw, unreadable files skipped and
counted): ``--self-training`` refits the probe with their confident pseudo-labels and ``--adabn``
re-estimates the BatchNorm statistics on them, as the backend's round does with a project's
unlabeled tasks (:mod:`model_zoo.classifier.unlabeled`). Both are off by default, like the
backend's ``TRAIN_SELF_TRAINING``: neither paid on real wall tiles (see ``docs/classifier.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.semi_supervised import subsample
from model_zoo.classifier.training import TrainConfig, evaluate, fine_tune
from model_zoo.data.dataset import find_images, load_dataset, open_image
from model_zoo.data.synthetic_mix import add_mix_arguments, mix_from_args, split_off_synthetic
from model_zoo.registry import default_model_dir

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory (images/<class>/*.png)")
    parser.add_argument(
        "--model", default="efficientnet-lite0", help="zoo name, directory or hub id"
    )
    parser.add_argument("--out", required=True, help="where to save the fine-tuned model")
    recipe = TrainConfig()
    parser.add_argument("--epochs", type=int, default=recipe.epochs, help="after the probe")
    parser.add_argument("--batch", type=int, default=recipe.batch_size)
    parser.add_argument("--lr", type=float, default=recipe.lr, help="probe (random: all)")
    parser.add_argument("--backbone-lr", type=float, default=recipe.backbone_lr)
    parser.add_argument(
        "--input-size", type=int, default=None, help="image side in pixels (default: the model's)"
    )
    parser.add_argument(
        "--val-fraction", type=float, default=0.15, help="of the training split, for early stopping"
    )
    parser.add_argument("--train-blocks", default="auto", help="head, all, auto or N top blocks")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--model-dir",
        default=None,
        help="zoo entries by name (default: $MODEL_DIR or ./data/models)",
    )
    parser.add_argument(
        "--version", default=None, help="model version to record (default: out dir name + time)"
    )
    add_mix_arguments(parser)
    _add_unlabeled_arguments(parser, recipe)


def _add_unlabeled_arguments(parser: argparse.ArgumentParser, recipe: TrainConfig) -> None:
    parser.add_argument(
        "--unlabeled",
        default=None,
        help="a folder of unlabeled images of the same domain (recursive), for --self-training "
        "and --adabn",
    )
    parser.add_argument(
        "--self-training",
        action=argparse.BooleanOptionalAction,
        default=recipe.self_training,
        help="the probe also learns the unlabeled images' confident pseudo-labels (default off, "
        "as the backend's TRAIN_SELF_TRAINING: it did not pay on real wall tiles)",
    )
    parser.add_argument(
        "--adabn",
        action="store_true",
        help="re-estimate the BatchNorm statistics on the unlabeled images (default off: it "
        "lost accuracy on real wall tiles)",
    )
    parser.add_argument(
        "--unlabeled-max",
        type=int,
        default=recipe.unlabeled_max,
        help=f"most unlabeled images read (a seeded draw; default {recipe.unlabeled_max})",
    )


def unlabeled_images(folder: str | Path, most: int, seed: int) -> tuple[list, dict]:
    """At most ``most`` images of ``folder`` (recursive, hidden files ignored; a seeded draw
    when there are more) and what was read: ``{"folder", "found", "read", "unreadable"}``.

    An unreadable file is skipped and counted; a missing folder or one without images is an
    error that names it."""
    root = Path(folder).expanduser()
    try:
        paths, _other = find_images(root)
    except NotADirectoryError:
        raise SystemExit(f"finetune: --unlabeled {root} is not a folder of images") from None
    if not paths:
        raise SystemExit(f"finetune: --unlabeled {root} holds no images (.png, .jpg, ...)")
    images, unreadable = [], 0
    for index in subsample(len(paths), max(0, most), seed):
        try:
            images.append(open_image(paths[int(index)]))
        except (OSError, ValueError, SyntaxError):  # PIL's errors for broken files
            unreadable += 1
            log.warning("unlabeled image %s is unreadable; skipped", paths[int(index)])
    read = {"folder": str(root.resolve()), "found": len(paths), "read": len(images)}
    return images, {**read, "unreadable": unreadable}


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        backbone_lr=args.backbone_lr,
        train_blocks=args.train_blocks,
        input_size=args.input_size,
        seed=args.seed,
        adabn=args.adabn,
        self_training=args.self_training,
        unlabeled_max=max(0, args.unlabeled_max),
    )


def _pool(args: argparse.Namespace) -> tuple[list, dict]:
    """The unlabeled images of ``--unlabeled`` (none without it; an error when --self-training
    or --adabn asks for them and there is no folder)."""
    if not args.unlabeled:
        if args.self_training or args.adabn:
            raise SystemExit(
                "finetune: --self-training and --adabn learn from unlabeled images: give them "
                "with --unlabeled DIR"
            )
        return [], {}
    return unlabeled_images(args.unlabeled, args.unlabeled_max, args.seed)


def test_metrics(classifier, test) -> dict:
    """The metrics of :func:`~model_zoo.classifier.training.evaluate` on the test split."""
    if not test:
        return {}
    probs = classifier.predict_proba([im for im, _ in test], batch_size=32)
    targets = np.array([y for _, y in test])
    return {**evaluate(probs, targets, classifier.classes), "test_size": len(test)}


def print_report(result, version: str, out: Path) -> None:
    m = result.metrics
    print(
        f"test accuracy {m.get('accuracy', float('nan')):.3f}  macro-F1 {m.get('macro_f1', float('nan')):.3f}  "
        f"(best epoch {result.best_epoch}, {result.seconds:.1f}s)"
    )
    for name, row in m.get("per_class", {}).items():
        print(
            f"  {name:<16} precision {row['precision']:.2f}  recall {row['recall']:.2f}  n={row['support']}"
        )
    read = m.get("unlabeled_read")
    if read:
        used = m.get("self_training") or {}
        pseudo = used.get("pseudo_per_class")
        skipped = f" ({read['unreadable']} unreadable, skipped)" if read["unreadable"] else ""
        print(
            f"unlabeled: {read['read']} of {read['found']} images read from {read['folder']}"
            f"{skipped}; "
            f"AdaBN on {m.get('adabn_images', 0)}; self-training "
            + (f"pseudo-labels per class {pseudo}" if pseudo else used.get("skipped") or "off")
        )
    print(f"saved {version} to {out}")


def run(args: argparse.Namespace) -> int:
    unlabeled, pool_read = _pool(args)
    dataset, synthetic_in_data = split_off_synthetic(load_dataset(args.data))
    train_set, test_set = dataset.split(test_fraction=args.test_fraction, seed=args.seed)
    train_set, val_set = train_set.split(test_fraction=args.val_fraction, seed=args.seed)
    mix = mix_from_args(args, train_set.class_counts(), synthetic_in_data)
    classes = dataset.classes
    index = {c: i for i, c in enumerate(classes)}
    classifier = load_classifier(
        args.model,
        classes,
        model_dir=args.model_dir or default_model_dir(),
        device=args.device,
        seed=args.seed,
    )
    print(
        f"fine-tuning {args.model} on {len(train_set)} images ({len(classes)} classes)"
        f"{f' + {len(mix.images)} synthetic' if mix.images else ''}, early stopping on "
        f"{len(val_set)}, testing on {len(test_set)}"
        f"{f', {len(unlabeled)} unlabeled images' if pool_read else ''}"
    )
    train = [(open_image(s.image_path), index[s.label]) for s in train_set]
    train += [(open_image(path), index[label]) for path, label in mix.images]
    val = [(open_image(s.image_path), index[s.label]) for s in val_set]
    test = [(open_image(s.image_path), index[s.label]) for s in test_set]
    result = fine_tune(classifier, train, val, _train_config(args), unlabeled=unlabeled)
    result.metrics.update(test_metrics(classifier, test))
    if pool_read:
        result.metrics["unlabeled_read"] = pool_read
    out = Path(args.out)
    version = args.version or f"{out.name}-{datetime.now(timezone.utc):%Y%m%d%H%M%S}"
    classifier.save(
        out,
        version=version,
        metrics=result.metrics,
        history=result.history,
        trained_at=datetime.now(timezone.utc).isoformat(),
        data=str(Path(args.data).resolve()),
        **mix.summary(),
    )
    print_report(result, version, out)
    (out / "metrics.json").write_text(json.dumps(result.as_dict(), indent=2))
    return 0
