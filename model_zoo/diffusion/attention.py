"""The UNet's cross-attention to one word of the prompt, summed over layers and steps.

``record_token_attention`` swaps a recording processor into every cross-attention layer
(``attn2``) of the UNet for the duration of a ``with`` block. Each processor lets the layer's
usual processor compute the output, and in addition computes the attention probabilities of
one batch row (the conditional row of the defect prompt) with the layer's own projections
(``Attention.get_attention_scores``), keeps the columns of the word's tokens and adds them,
resized to the latent grid, to a running map.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F


def token_positions(tokenizer, prompt: str, word: str) -> list[int]:
    """Indices of ``word``'s tokens in the tokenized ``prompt`` (start token included)."""
    ids = tokenizer(prompt).input_ids
    target = tokenizer(word, add_special_tokens=False).input_ids
    if not target:
        raise ValueError(f"the defect token {word!r} is empty")
    for start in range(len(ids) - len(target) + 1):
        if ids[start : start + len(target)] == target:
            return list(range(start, start + len(target)))
    raise ValueError(f"the defect token {word!r} does not occur in the prompt {prompt!r}")


class TokenAttentionMap:
    """Running sum of the cross-attention of batch row ``row`` to ``positions``."""

    def __init__(self, positions: Sequence[int], row: int, latent_hw: tuple[int, int]):
        self.positions = list(positions)
        self.row = row
        self.latent_hw = latent_hw
        self.total = torch.zeros(latent_hw, dtype=torch.float32)

    def add(self, probs: torch.Tensor) -> None:
        """``probs``: (heads, pixels, tokens) of one layer call for the recorded row."""
        h, w = self.latent_hw
        per_pixel = probs[:, :, self.positions].float().mean(dim=(0, 2))
        scale = math.sqrt(h * w / per_pixel.numel())
        grid = per_pixel.reshape(1, 1, round(h / scale), round(w / scale))
        self.total += F.interpolate(grid, size=(h, w), mode="bilinear").reshape(h, w).cpu()

    def as_image_map(self, size: tuple[int, int]) -> np.ndarray:
        """The map resized to ``size`` = (height, width), scaled to [0, 1]."""
        grid = F.interpolate(self.total[None, None], size=size, mode="bilinear")[0, 0]
        hi = float(grid.max())
        return (grid / hi).numpy() if hi > 0 else grid.numpy()


class _RecordingProcessor:
    def __init__(self, inner, store: TokenAttentionMap):
        self.inner = inner
        self.store = store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        if encoder_hidden_states is not None and hidden_states.ndim == 3:
            row = self.store.row
            context = encoder_hidden_states[row : row + 1]
            if attn.norm_cross:
                context = attn.norm_encoder_hidden_states(context)
            query = attn.head_to_batch_dim(attn.to_q(hidden_states[row : row + 1]))
            key = attn.head_to_batch_dim(attn.to_k(context))
            self.store.add(attn.get_attention_scores(query, key, None).detach())
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, **kw)


@contextmanager
def record_token_attention(unet, store: TokenAttentionMap) -> Iterator[TokenAttentionMap]:
    """Record the cross-attention of ``unet`` into ``store`` inside the block."""
    original = dict(unet.attn_processors)
    swapped = {
        name: _RecordingProcessor(proc, store) if name.endswith("attn2.processor") else proc
        for name, proc in original.items()
    }
    unet.set_attn_processor(swapped)
    try:
        yield store
    finally:
        unet.set_attn_processor(original)
