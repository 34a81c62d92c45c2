"""Reconstruction previews: original | masked | reconstruction | visible pasted, as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model_zoo.pretrain.configs import MEAN, STD
from model_zoo.storage.atomic import write_atomic


def reconstruct(model, pixels: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Masked forward pass on normalised ``pixels``: original, masked input and reconstruction
    as [0, 1] images (N, 3, H, W), plus the loss."""
    model.eval()
    n_patches = model.vit.embeddings.patch_embeddings.num_patches
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(pixels.shape[0], n_patches, generator=generator)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(pixel_values=pixels.to(device), noise=noise.to(device))
        pred = out.logits.cpu()
        if model.config.norm_pix_loss:  # predictions are per-patch normalised: undo with the
            target = model.patchify(pixels)  # statistics of the true patches (as in the paper)
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred = pred * (var + 1.0e-6) ** 0.5 + mean
        recon = model.unpatchify(pred)
        p = model.config.patch_size
        mask = out.mask.cpu().unsqueeze(-1).repeat(1, 1, p * p * 3)
        mask = model.unpatchify(mask)  # 1 where masked
    std = torch.tensor(STD).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)

    def show(x):
        return (x * std + mean).clamp(0, 1)

    original = show(pixels)
    return {
        "original": original,
        "masked": original * (1 - mask) + 0.5 * mask,
        "reconstruction": show(recon),
        "pasted": original * (1 - mask) + show(recon) * mask,
        "loss": out.loss.detach(),
    }


def save_preview(model, pixels: torch.Tensor, path: Path, seed: int = 0) -> Path:
    """A PNG grid, one row per image: original | masked | reconstruction | visible pasted."""
    parts = reconstruct(model, pixels, seed)
    columns = [parts["original"], parts["masked"], parts["reconstruction"], parts["pasted"]]
    rows = [torch.cat([c[i] for c in columns], dim=-1) for i in range(pixels.shape[0])]
    grid = torch.cat(rows, dim=-2)
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(array)
    scale = max(1, 192 // pixels.shape[-1])
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))
