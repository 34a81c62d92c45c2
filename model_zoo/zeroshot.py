"""Zero-shot class scores from a CLIP model and the class names: a start before any label.

``load_zero_shot(name)`` takes a zoo name (``clip-vit-base-patch32``, hub only), a local
``save_pretrained`` directory or a hub id (``org/name[@revision]``). Each class name becomes a few
prompts (``TEMPLATES``; ``no_defect`` and a few other names get a phrase of their own,
``PHRASES``), whose normalised text embeddings are averaged (a prompt ensemble); an image's class
probabilities are the softmax of its cosine similarity to each class, times CLIP's logit scale.

The offline default has no CLIP weights (model hubs are unreachable there, and no registry package
ships them), so the backend starts with nothing rather than this unless ``ZERO_SHOT_MODEL`` names
one; tests build a tiny CLIP themselves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from model_zoo.classifier.model import canonical_class_name
from model_zoo.device import place
from model_zoo.loading import (
    ModelLoadError,
    check_family,
    pretrained_location,
    resolve_source,
    source_version,
)

TEMPLATES = (
    "a photo of {}.",
    "a close-up photo of {} on a concrete surface.",
    "an inspection photo of a concrete structure with {}.",
)
#: what a class name means in words, where the name alone reads badly in a prompt
PHRASES = {
    "no_defect": "an intact concrete surface without any defect",
    "net_crack": "a network of fine cracks",
    "exposed_rebar": "exposed rusty reinforcement bars",
    "efflorescence": "white efflorescence stains",
}


def class_phrase(name: str) -> str:
    canonical = canonical_class_name(name)
    return PHRASES.get(canonical, canonical.replace("_", " "))


@dataclass
class ZeroShotClassifier:
    model: Any
    processor: Any
    version: str
    device_setting: str = "auto"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _device: torch.device | None = field(default=None, repr=False)
    _texts: dict[tuple[str, ...], torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = place(self.model, self.device_setting, f"zero-shot {self.version}")
        return self._device

    def class_embeddings(self, names: Sequence[str]) -> torch.Tensor:
        """(C, D) normalised mean of each class's prompt embeddings (cached per name list)."""
        key = tuple(names)
        if key not in self._texts:
            prompts = [template.format(class_phrase(n)) for n in names for template in TEMPLATES]
            tokens = self.processor(
                text=prompts, return_tensors="pt", padding=True, truncation=True, max_length=77
            )
            with self._lock, torch.inference_mode():
                text = self.model.get_text_features(
                    **{k: v.to(self.device) for k, v in tokens.items()}
                )
            text = torch.nn.functional.normalize(_features(text).float().cpu(), dim=-1)
            text = text.reshape(len(names), len(TEMPLATES), -1).mean(dim=1)
            self._texts[key] = torch.nn.functional.normalize(text, dim=-1)
        return self._texts[key]

    def predict_proba(
        self, images: Sequence[Image.Image], names: Sequence[str], batch_size: int = 16
    ) -> np.ndarray:
        """(N, C) class probabilities of ``images`` for the classes ``names``."""
        texts = self.class_embeddings(names)
        scale = float(self.model.logit_scale.exp())
        chunks = []
        for start in range(0, len(images), max(1, batch_size)):
            rgb = [im.convert("RGB") for im in images[start : start + batch_size]]
            pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"]
            with self._lock, torch.inference_mode():
                found = self.model.get_image_features(pixel_values=pixels.to(self.device))
            found = torch.nn.functional.normalize(_features(found).float().cpu(), dim=-1)
            chunks.append(torch.softmax(scale * found @ texts.T, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, len(names)), np.float32)


def _features(output) -> torch.Tensor:
    """The embedding tensor of a ``get_*_features`` answer (a tensor or a model output)."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output if getattr(output, "pooler_output", None) is not None else output[0]


def load_zero_shot(
    name_or_path: str, *, model_dir: str | os.PathLike | None = None, device: str = "auto"
) -> ZeroShotClassifier:
    """A CLIP model for zero-shot class scores (a zoo name, local directory or hub id)."""
    from transformers import CLIPModel, CLIPProcessor

    source = resolve_source(name_or_path, model_dir)
    check_family(source, "clip", "a CLIP model")
    location, extra = pretrained_location(source)
    try:
        model = CLIPModel.from_pretrained(location, **extra)
        processor = CLIPProcessor.from_pretrained(location, **extra)
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"cannot load the CLIP model {source.name!r} for ZERO_SHOT_MODEL: {first}. On a "
            f"machine with network access save it with save_pretrained (e.g. `hf download "
            f"{source.hub_id or source.name} --local-dir clip`), copy the folder here and set "
            "ZERO_SHOT_MODEL to it; or leave ZERO_SHOT_MODEL empty, and nothing is pre-labeled "
            "before the first training round."
        ) from exc
    model.eval()
    return ZeroShotClassifier(model, processor, source_version(source), device)
