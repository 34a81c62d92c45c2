"""CLIPSeg (text-prompted segmentation) through transformers, with shared image encoding.

``load_clipseg(name)`` accepts a zoo name (``clipseg-rd64-refined``: the hub checkpoint;
``tiny-clipseg``/``random-clipseg-base``: random weights built in memory), a local directory
(``save_pretrained`` layout of a ``CLIPSegForImageSegmentation`` plus its ``CLIPSegProcessor``)
or a hub id (``org/name[@revision]``).

Efficiency (what :meth:`ClipSeg.prompt_logits` does, versus calling the model once per prompt):

* each image goes through the CLIP vision encoder **once** (``model.clip.get_image_features``
  with the hidden states the decoder reads, ``config.extract_layers``); the small FiLM decoder
  (``model.decoder``) then runs once per (image, prompt) pair on those shared activations;
* prompt embeddings (``model.get_conditional_embeddings``: CLIP text encoder + projection) are
  computed once per prompt and cached, keyed by (model version, prompt);
* images are batched (``batch_size``) and decoder passes are chunked so memory stays bounded.

This is the same computation as ``model(input_ids=..., pixel_values=...)`` (the tests check the
logits are equal), only without repeating the encoder for every prompt.

Tensor formats: images are PIL images (any mode; converted to 8-bit RGB, 16-bit rescaled,
transparency composited on white) or uint8 arrays (H, W) / (H, W, 3). Logits are returned at the
model's output resolution (``output_size``, 352 px for the real checkpoint), shape (K, h, w), one
array per image; :mod:`model_zoo.clipseg.ensembles` combines them and upsamples to the original size.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from model_zoo.data.rgb import to_rgb
from model_zoo.device import place
from model_zoo.loading import (
    build_random,
    check_family,
    load_error,
    pretrained_location,
    resolve_source,
    source_version,
)
from model_zoo.registry import ModelSource

log = logging.getLogger(__name__)

DEFAULT_CLIPSEG = "clipseg-rd64-refined"
MAX_PROMPT_CHARS = 1000
# CLIP's ImageNet statistics, as in the CIDAS/clipseg-rd64-refined preprocessor config
_MEAN = [0.485, 0.456, 0.406]
_STD = [0.229, 0.224, 0.225]


class PromptError(ValueError):
    """A prompt list cannot be used (empty, blank or absurdly long prompts)."""


# ---------------------------------------------------------------------------------- building
def byte_level_tokenizer():
    """A CLIP tokenizer built in memory: the 256 byte-level symbols (with and without the
    end-of-word marker) and no merges. Every text tokenizes (one token per byte), no files."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    for suffix in ("", "</w>"):
        for symbol in alphabet:
            vocab[symbol + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _processor(size: int, tokenizer) -> Any:
    from transformers import CLIPSegProcessor, ViTImageProcessor

    image_processor = ViTImageProcessor(
        do_resize=True,
        size={"height": size, "width": size},
        resample=Image.Resampling.BILINEAR,
        image_mean=_MEAN,
        image_std=_STD,
    )
    return CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_config():
    """hidden 32, 2 layers, 96 px input, patch 16; decoder reads both layers."""
    from transformers import CLIPSegConfig

    config = CLIPSegConfig(
        text_config={
            "vocab_size": 514,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 96,
            "patch_size": 16,
        },
        projection_dim=32,
        extract_layers=[0, 1],
        reduce_dim=16,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        conditional_layer=0,
        use_complex_transposed_convolution=True,
    )
    return config, _processor(96, byte_level_tokenizer())


def random_base_config():
    """The CIDAS/clipseg-rd64-refined architecture (ViT-B/16, rd64, refined), random weights.

    The text vocabulary is the small byte-level one (the real BPE vocabulary cannot be built
    offline); the text tower's compute is unchanged apart from the embedding table size.
    """
    from transformers import CLIPSegConfig

    config = CLIPSegConfig(
        text_config={"vocab_size": 514, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        reduce_dim=64,
        use_complex_transposed_convolution=True,
    )
    return config, _processor(352, byte_level_tokenizer())


def clean_prompts(prompts: Sequence[str], what: str = "prompts") -> list[str]:
    """Strip, drop duplicates (keeping order) and check a prompt list; raise :class:`PromptError`."""
    if isinstance(prompts, str):
        prompts = [prompts]
    out: list[str] = []
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise PromptError(f"{what}: a prompt must be text, not {type(prompt).__name__}")
        text = " ".join(prompt.split())
        if not text:
            continue
        if len(text) > MAX_PROMPT_CHARS:
            raise PromptError(
                f"{what}: a prompt of {len(text)} characters is too long (at most "
                f"{MAX_PROMPT_CHARS}; CLIP reads only 77 tokens): {text[:60]!r}…"
            )
        if text not in out:
            out.append(text)
    if not out:
        raise PromptError(f"{what}: the list is empty; give at least one non-blank prompt")
    return out


# ---------------------------------------------------------------------------------- the model
@dataclass
class ClipSeg:
    """A loaded CLIPSeg model with a prompt-embedding cache; thread-safe (one lock per model)."""

    model: Any
    processor: Any
    version: str
    source: ModelSource
    device_setting: str = "auto"
    cache_size: int = 4096
    stats: dict[str, int] = field(
        default_factory=lambda: {"images_encoded": 0, "prompts_encoded": 0, "prompt_cache_hits": 0}
    )
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _device: torch.device | None = field(default=None, repr=False)
    _prompt_cache: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def device(self) -> torch.device:
        """Resolved (and the model moved there) on first use, so a forked worker initialises CUDA."""
        if self._device is None:
            self._device = place(self.model, self.device_setting, f"clipseg {self.version}")
        return self._device

    @property
    def input_size(self) -> int:
        size = self.processor.image_processor.size
        height = size.get("height") if hasattr(size, "get") else getattr(size, "height", size)
        return int(height or 352)

    @property
    def max_tokens(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    # -- prompts
    def prompt_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        """Conditional embeddings (K, projection_dim) on the model's device; cached per prompt."""
        prompts = clean_prompts(prompts)
        with self._lock:
            device = self.device
            missing = [p for p in prompts if (self.version, p) not in self._prompt_cache]
            self.stats["prompt_cache_hits"] += len(prompts) - len(missing)
            if missing:
                tokenizer = self.processor.tokenizer
                lengths = [len(ids) for ids in tokenizer(missing)["input_ids"]]
                for prompt, n in zip(missing, lengths, strict=True):
                    if n > self.max_tokens:
                        log.warning(
                            "prompt %r has %d tokens; CLIP reads the first %d",
                            prompt[:60],
                            n,
                            self.max_tokens,
                        )
                tokens = tokenizer(
                    missing,
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                with torch.inference_mode():
                    embeddings = self.model.get_conditional_embeddings(
                        batch_size=len(missing),
                        input_ids=tokens["input_ids"].to(device),
                        attention_mask=tokens["attention_mask"].to(device),
                    )
                self.stats["prompts_encoded"] += len(missing)
                for prompt, emb in zip(missing, embeddings, strict=True):
                    self._prompt_cache[(self.version, prompt)] = emb.detach().clone()
            for prompt in prompts:
                self._prompt_cache.move_to_end((self.version, prompt))
            out = torch.stack([self._prompt_cache[(self.version, p)] for p in prompts])
            while len(self._prompt_cache) > self.cache_size:
                self._prompt_cache.popitem(last=False)
            return out

    # -- images
    def preprocess(self, images: Sequence[Image.Image | np.ndarray]) -> torch.Tensor:
        rgb = [to_rgb(im) for im in images]
        return self.processor.image_processor(images=rgb, return_tensors="pt")["pixel_values"]

    def encode_images(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """The vision encoder's activations that the decoder reads (one tensor per extract layer)."""
        with self._lock, torch.inference_mode():
            outputs = self.model.clip.get_image_features(
                pixel_values=pixel_values.to(self.device), output_hidden_states=True
            )
            self.stats["images_encoded"] += int(pixel_values.shape[0])
            # hidden_states[0] is the embedding output, hence +1
            return [outputs.hidden_states[i + 1] for i in self.model.config.extract_layers]

    def decode(
        self, activations: list[torch.Tensor], embeddings: torch.Tensor, max_pairs: int = 64
    ) -> torch.Tensor:
        """Logits (B, K, h, w) for B encoded images x K prompt embeddings (decoder only)."""
        batch, k = int(activations[0].shape[0]), int(embeddings.shape[0])
        pairs_image = torch.arange(batch).repeat_interleave(k)
        pairs_prompt = torch.arange(k).repeat(batch)
        chunks = []
        with self._lock, torch.inference_mode():
            for start in range(0, batch * k, max(1, max_pairs)):
                sel_i = pairs_image[start : start + max_pairs].to(self.device)
                sel_p = pairs_prompt[start : start + max_pairs].to(self.device)
                acts = [a.index_select(0, sel_i) for a in activations]
                logits = self.model.decoder(acts, embeddings.index_select(0, sel_p)).logits
                if logits.ndim == 2:  # a single pair: the decoder squeezes the batch axis
                    logits = logits.unsqueeze(0)
                chunks.append(logits.float())
        logits = torch.cat(chunks)
        return logits.view(batch, k, *logits.shape[-2:])

    def prompt_logits(
        self,
        images: Sequence[Image.Image | np.ndarray],
        prompts: Sequence[str],
        batch_size: int = 8,
    ) -> list[np.ndarray]:
        """Per-image logits (K, h, w) at the model's resolution; each image encoded once."""
        if not images:
            return []
        embeddings = self.prompt_embeddings(prompts)
        out: list[np.ndarray] = []
        for start in range(0, len(images), max(1, batch_size)):
            pixel_values = self.preprocess(images[start : start + batch_size])
            logits = self.decode(self.encode_images(pixel_values), embeddings)
            out.extend(logits.cpu().numpy())
        return out

    def naive_logits(self, image: Image.Image | np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """The reference path: the full model called once per prompt (text + image + decoder).

        What one gets calling ``model(**processor(text=[p], images=[image]))`` K times; used by
        the benchmark and by the tests that check :meth:`prompt_logits` computes the same thing.
        """
        rgb = to_rgb(image)
        maps = []
        with self._lock, torch.inference_mode():
            device = self.device
            for prompt in clean_prompts(prompts):
                inputs = self.processor(
                    text=[prompt],
                    images=[rgb],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                logits = self.model(**{k: v.to(device) for k, v in inputs.items()}).logits
                maps.append(logits.reshape(logits.shape[-2:]).float().cpu().numpy())
        return np.stack(maps)

    def save(self, out_dir: str | os.PathLike) -> None:
        with self._lock:
            self.model.save_pretrained(out_dir, safe_serialization=True)
        self.processor.save_pretrained(out_dir)


# ---------------------------------------------------------------------------------- loading
def load_clipseg(
    name_or_path: str = DEFAULT_CLIPSEG,
    *,
    model_dir: str | os.PathLike | None = None,
    device: str = "auto",
    seed: int = 0,
) -> ClipSeg:
    """Load CLIPSeg: a zoo name, a local directory or a hub id (``org/name[@revision]``).

    Random zoo entries are built with a fixed ``seed`` so every process builds the same weights.
    """
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    source = resolve_source(name_or_path, model_dir)
    check_family(source, "clipseg", "CLIPSeg")
    if source.kind == "random":
        model, processor = build_random(source, seed, CLIPSegForImageSegmentation)
    else:
        location, extra = pretrained_location(source)
        try:
            model = CLIPSegForImageSegmentation.from_pretrained(location, **extra)
            processor = CLIPSegProcessor.from_pretrained(location, **extra)
        except (OSError, ValueError) as exc:
            raise load_error(
                source,
                exc,
                model_dir,
                what="CLIPSeg model",
                setting="CLIPSEG_MODEL (or model_name on the tag)",
                offline="tiny-clipseg",
            ) from exc
    model.eval()
    return ClipSeg(
        model=model,
        processor=processor,
        version=source_version(source, seed=seed),
        source=source,
        device_setting=device,
    )


def prompts_digest(prompts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:8]
