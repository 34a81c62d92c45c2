"""Random-weight classifier backbones of the zoo (``tiny-*``, ``random-*``): no download.

Each function returns ``(model_config, image_processor)``; the registry names them as
``"model_zoo.classifier.random_configs:<function>"`` and :mod:`model_zoo.loading` builds them.
"""

from __future__ import annotations

from model_zoo.pretrain.configs import encoder_config, vit_processor


def tiny_vit():
    """4-layer ViT of width 64 at 64 px (attention 'eager', so CAMs can hook it)."""
    from transformers import ViTConfig

    config = ViTConfig(
        image_size=64,
        patch_size=8,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=128,
        attn_implementation="eager",
    )
    return config, vit_processor(64)


def random_vit_base():
    """ViT-B/16 at 224 px: real-size compute for benchmarks."""
    from transformers import ViTConfig

    return ViTConfig(image_size=224, patch_size=16), vit_processor(224)


def random_vit_small():
    """The architecture of ``fm-concrete-small`` (the MAE "small" encoder), random init."""
    config = encoder_config("small")
    return config, vit_processor(config.image_size)


def tiny_convnext():
    """A small ConvNeXt at 64 px: a CNN for CAM tests."""
    from transformers import ConvNextConfig, ConvNextImageProcessor

    config = ConvNextConfig(
        num_channels=3,
        hidden_sizes=[16, 32, 64, 128],
        depths=[1, 1, 2, 1],
        image_size=64,
    )
    processor = ConvNextImageProcessor(
        size={"shortest_edge": 64}, crop_pct=1.0, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    return config, processor


def random_efficientnet_lite0():
    """``efficientnet-lite0``'s architecture and preprocessing with random weights: the
    "no pretraining" arm of ``finetune-compare``."""
    from transformers import TimmWrapperConfig

    from model_zoo.backbones.efficientnet_lite import image_processor, packaged_backbone

    entry = packaged_backbone("efficientnet-lite0")
    return TimmWrapperConfig(architecture=entry.architecture), image_processor(entry)
