"""``python -m model_zoo pretrain``: domain pretraining, by the kind of backbone continued.

``--from`` a CNN (``efficientnet-lite0``, a timm folder) continues it with SimSiam
(:mod:`model_zoo.pretrain.simsiam`); ``--from scratch`` or a ViT (``vit-mae-base``,
``facebook/vit-mae-base``) trains a masked autoencoder (:mod:`model_zoo.pretrain.mae`). Both
read the same options.
"""

from __future__ import annotations

import argparse

from model_zoo.pretrain import mae, simsiam
from model_zoo.registry import default_model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mae.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not args.default and args.project is None and simsiam.is_cnn_base(args.base):
        args.model_dir = args.model_dir or str(default_model_dir())
        return simsiam.run(args)
    return mae.run(args)
