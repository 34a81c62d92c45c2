"""Paired generation: one seeded initial latent, two prompts (defect and defect-free twin).

The paper's section 3.4: "big crack on a concrete wall" and "concrete wall" generated from the
same initialisation give images that agree except where the defect is. Both prompts run in one
batch from the same latent (and, for stochastic schedulers, generators with the same seed), so
equal prompts give equal images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from model_zoo.diffusion.attention import TokenAttentionMap, record_token_attention, token_positions


@dataclass(frozen=True)
class GenerationSettings:
    steps: int = 30
    guidance: float = 7.5
    height: int | None = None  # default: the pipeline's native size
    width: int | None = None
    negative_prompt: str | None = None
    attention_token: str | None = None  # a word of the defect prompt; None: colour only


@dataclass
class PairedSample:
    seed: int
    defect: Image.Image
    twin: Image.Image
    attention: np.ndarray | None = None  # (H, W) in [0, 1], when a token was recorded


def native_size(pipe) -> tuple[int, int]:
    """(height, width) the pipeline's UNet was built for."""
    side = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    return side, side


def initial_latent(pipe, seed: int, height: int, width: int) -> torch.Tensor:
    """The seeded initial noise (1, C, h, w), drawn on the CPU so that it is device-independent."""
    from diffusers.utils.torch_utils import randn_tensor

    factor = int(pipe.vae_scale_factor)
    if height % factor or width % factor:
        raise ValueError(f"height and width must be multiples of {factor}, not {height}x{width}")
    shape = (1, int(pipe.unet.config.in_channels), height // factor, width // factor)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    return randn_tensor(shape, generator=generator, dtype=torch.float32)


def generate_pair(
    pipe, prompt: str, paired_prompt: str, seed: int, settings: GenerationSettings
) -> PairedSample:
    """Generate the defect image and its twin from one seeded latent."""
    default_h, default_w = native_size(pipe)
    height, width = settings.height or default_h, settings.width or default_w
    latent = initial_latent(pipe, seed, height, width)
    device, dtype = pipe.unet.device, pipe.unet.dtype
    latents = latent.repeat(2, 1, 1, 1).to(device=device, dtype=dtype)
    generators = [torch.Generator(device).manual_seed(int(seed)) for _ in range(2)]
    negative = [settings.negative_prompt] * 2 if settings.negative_prompt else None
    call = dict(
        prompt=[prompt, paired_prompt],
        negative_prompt=negative,
        height=height,
        width=width,
        num_inference_steps=settings.steps,
        guidance_scale=settings.guidance,
        latents=latents,
        generator=generators,
    )
    if not settings.attention_token:
        images = pipe(**call).images
        return PairedSample(seed, images[0], images[1])
    positions = token_positions(pipe.tokenizer, prompt, settings.attention_token)
    row = 2 if settings.guidance > 1.0 else 0  # classifier-free guidance puts [uncond, cond]
    store = TokenAttentionMap(positions, row, tuple(latent.shape[-2:]))
    with record_token_attention(pipe.unet, store):
        images = pipe(**call).images
    return PairedSample(seed, images[0], images[1], store.as_image_map((height, width)))
