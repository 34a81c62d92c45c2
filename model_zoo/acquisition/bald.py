"""BALD (Houlsby et al. 2011) with MC dropout: mutual information between the prediction and
the model weights, ``H[mean_t p_t] - mean_t H[p_t]`` over T stochastic forward passes.

Where the dropout sits: fm-inspect scores from *cached* backbone features, so re-running the
backbone T times (dropout inside the encoder) would defeat the cache. :func:`mc_dropout_probabilities`
applies dropout to the pooled features, i.e. the input of the classifier head, and runs the head
T times. The rate is the model config's ``classifier_dropout`` / ``hidden_dropout_prob`` when it is
positive, else :data:`DEFAULT_DROPOUT` (the tiny and ViT configs of the zoo have zero dropout).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from model_zoo.acquisition.base import AcquisitionContext, Strategy, entropy

DEFAULT_DROPOUT = 0.25


class Bald(Strategy):
    name = "bald"
    needs = frozenset({"mc_probabilities"})

    def fallback(self, ctx: AcquisitionContext) -> Strategy:
        from model_zoo.acquisition.entropy import Entropy
        from model_zoo.acquisition.random import RandomStrategy

        return Entropy() if ctx.probabilities is not None else RandomStrategy()

    def compute_score(self, ctx: AcquisitionContext) -> np.ndarray:
        mc = np.asarray(ctx.mc_probabilities, dtype=np.float64)  # (T, N, C)
        return entropy(mc.mean(axis=0)) - entropy(mc).mean(axis=0)


def dropout_rate(config) -> float:
    """The dropout rate of a transformers config, or DEFAULT_DROPOUT when it has none."""
    for key in (
        "classifier_dropout",
        "classifier_dropout_prob",
        "hidden_dropout_prob",
        "drop_rate",
    ):
        value = getattr(config, key, None)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    return DEFAULT_DROPOUT


@torch.no_grad()
def mc_dropout_probabilities(
    head: Callable[[torch.Tensor], torch.Tensor],
    features: np.ndarray,
    *,
    samples: int = 20,
    rate: float = DEFAULT_DROPOUT,
    multi_label: bool = False,
    seed: int = 0,
    batch_size: int = 8192,
) -> np.ndarray:
    """(T, N, C) probabilities of ``head`` on ``features`` with dropout on its input."""
    gen = torch.Generator().manual_seed(int(seed))
    x_all = torch.as_tensor(np.asarray(features, dtype=np.float32))
    out = []
    for _ in range(int(samples)):
        chunks = []
        for start in range(0, len(x_all), batch_size):
            x = x_all[start : start + batch_size]
            keep = (torch.rand(x.shape, generator=gen) >= rate).float() / (1.0 - rate)
            logits = head(x * keep).float()
            chunks.append(torch.sigmoid(logits) if multi_label else torch.softmax(logits, -1))
        out.append(torch.cat(chunks).numpy())
    return np.stack(out)
