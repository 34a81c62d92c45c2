"""ViT and ViT-MAE configurations: the from-scratch presets and the encoder <-> MAE mapping.

A ViT encoder and the encoder inside an MAE checkpoint share the keys of ``ENCODER_KEYS``;
:func:`mae_config_from_vit` adds a decoder (sized by a preset), :func:`vit_config_from_mae`
drops it again so a pretrained encoder loads as a plain classifier backbone.
"""

from __future__ import annotations

MEAN = STD = (0.5, 0.5, 0.5)

# Encoder and decoder sizes of the from-scratch architectures. "small" is the CPU default
# (6 layers of width 128 at 96 px: 64 tokens); "base" is ViT-B/16 with the MAE paper's decoder.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=64, decoder_hidden_size=32,
                 decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
                 decoder_intermediate_size=64),
    "small": dict(image_size=96, patch_size=12, hidden_size=128, num_hidden_layers=6,
                  num_attention_heads=4, intermediate_size=512, decoder_hidden_size=96,
                  decoder_num_hidden_layers=2, decoder_num_attention_heads=3,
                  decoder_intermediate_size=384),
    "base": dict(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, decoder_hidden_size=512,
                 decoder_num_hidden_layers=8, decoder_num_attention_heads=16,
                 decoder_intermediate_size=2048),
}  # fmt: skip

ENCODER_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
    "layer_norm_eps",
    "image_size",
    "patch_size",
    "num_channels",
    "qkv_bias",
)


def encoder_config(preset: str = "small", image_size: int | None = None):
    """The ViT (classifier-side) config of a preset's encoder, attention 'eager' for CAMs."""
    from transformers import ViTConfig

    spec = {k: v for k, v in PRESETS[preset].items() if not k.startswith("decoder_")}
    if image_size:
        spec["image_size"] = int(image_size)
    return ViTConfig(**spec, attn_implementation="eager")


def vit_processor(size: int):
    from transformers import ViTImageProcessor

    return ViTImageProcessor(
        size={"height": size, "width": size}, image_mean=list(MEAN), image_std=list(STD)
    )


def mae_config_from_vit(vit_config, preset: str, mask_ratio: float):
    """An MAE config whose encoder is ``vit_config``; decoder sized by ``preset``."""
    from transformers import ViTMAEConfig

    spec = {k: getattr(vit_config, k) for k in ENCODER_KEYS if hasattr(vit_config, k)}
    decoder = {k: v for k, v in PRESETS[preset].items() if k.startswith("decoder_")}
    return ViTMAEConfig(**spec, **decoder, mask_ratio=float(mask_ratio), norm_pix_loss=True)


def vit_config_from_mae(mae_config, **overrides):
    """The plain-ViT config of an MAE checkpoint's encoder (a ViT has no masking at all)."""
    from transformers import ViTConfig

    spec = {k: getattr(mae_config, k) for k in ENCODER_KEYS if hasattr(mae_config, k)}
    return ViTConfig(**{**spec, **overrides})


def preset_for(vit_config) -> str:
    """The decoder preset that fits an encoder: the MAE-paper decoder for base-sized ones."""
    return "base" if vit_config.hidden_size >= 512 else "small"
