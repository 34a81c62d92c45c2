"""The images a LoRA fine-tuning learns from: the user's class images and, for prior
preservation, images of the plain class (given, or generated once by the base model)."""

from __future__ import annotations

from pathlib import Path

import torch

from model_zoo.data.dataset import is_image_file, open_image
from model_zoo.diffusion.pipeline import DiffusionError


def image_files(folder: str | Path, what: str = "--images") -> list[Path]:
    """Image files under ``folder`` (recursive, hidden files skipped); raises when none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DiffusionError(f"{what} {folder} is not a directory of images")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and is_image_file(p) and not p.name.startswith(".")
    )
    if not files:
        raise DiffusionError(f"{what} {folder} holds no images (.png, .jpg, ...)")
    return files


def pixel_batch(files: list[Path], resolution: int) -> torch.Tensor:
    """Images resized and centre-cropped to ``resolution``, in [-1, 1] (N, 3, R, R)."""
    from torchvision import transforms

    to_tensor = transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),
        ]
    )
    return torch.stack([to_tensor(open_image(p)) for p in files])


@torch.no_grad()
def encode_latents(pipe, pixels: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """VAE latents (mean of the posterior, scaled) of ``pixels`` and their mirror images."""
    vae = pipe.vae
    both = torch.cat([pixels, pixels.flip(-1)])
    out = []
    for start in range(0, len(both), batch):
        chunk = both[start : start + batch].to(vae.device, vae.dtype)
        out.append(vae.encode(chunk).latent_dist.mean * vae.config.scaling_factor)
    return torch.cat(out).float().cpu()


@torch.no_grad()
def encode_prompt(pipe, prompt: str) -> torch.Tensor:
    """Text-encoder hidden states (1, tokens, dim) of ``prompt``."""
    ids = pipe.tokenizer(
        prompt,
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(pipe.text_encoder.device)
    return pipe.text_encoder(ids)[0].float().cpu()


def prior_images(
    pipe, prompt: str, folder: Path, count: int, seed: int, steps: int, progress: bool
) -> list[Path]:
    """``count`` images of ``prompt`` from the base model in ``folder`` (made once, reused)."""
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    made = sorted(folder.glob("prior-*.png"))
    for i in tqdm(range(len(made), count), desc="prior images", unit="img", disable=not progress):
        generator = torch.Generator("cpu").manual_seed(seed + i)
        image = pipe(prompt, num_inference_steps=steps, generator=generator).images[0]
        image.save(folder / f"prior-{i:05d}.png")
    return sorted(folder.glob("prior-*.png"))[:count]
