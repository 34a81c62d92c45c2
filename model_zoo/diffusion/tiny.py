"""A tiny random-weight Stable Diffusion pipeline: for tests and CPU demo runs only.

Every part has the real diffusers/transformers class (UNet2DConditionModel, AutoencoderKL,
CLIPTextModel, CLIPTokenizer, DDIM scheduler) with the smallest configs that still run, so the
generation, mask, LoRA and command code paths are the real ones. Its images are noise-like:
image quality needs a real checkpoint (see docs/diffusion.md).

``python -m model_zoo.diffusion.tiny DIR`` saves one to DIR for a demo run of the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

TINY_SIZE = 32
"""Image side (pixels) the tiny pipeline generates by default (16x16 latents)."""


def tiny_tokenizer():
    """A byte-level CLIP tokenizer with a vocabulary built in memory (no merges, no files)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)


def tiny_components(seed: int = 0) -> dict:
    """The modules of a tiny StableDiffusionPipeline, with random weights fixed by ``seed``."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=TINY_SIZE // 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=16,
        attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        sample_size=TINY_SIZE,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def tiny_pipeline(seed: int = 0):
    """A tiny random-weight StableDiffusionPipeline in memory (CPU, float32)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**tiny_components(seed), requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(out: str | Path, seed: int = 0) -> Path:
    """Save a tiny pipeline as a diffusers directory (model_index.json + safetensors)."""
    out = Path(out)
    tiny_pipeline(seed).save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m model_zoo.diffusion.tiny OUT_DIR", file=sys.stderr)
        raise SystemExit(2)
    print(f"tiny random-weight pipeline saved to {save_tiny_pipeline(sys.argv[1])}")
