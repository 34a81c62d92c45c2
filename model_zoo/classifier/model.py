"""The defect classifier: a transformers vision backbone with a classification head.

``load_classifier(name, labels)`` accepts a zoo name, a local directory (``save_pretrained``
layout, e.g. one written by :meth:`ImageClassifier.save` or ``python -m model_zoo finetune``)
or a hub id. Inference is batched, runs under ``torch.inference_mode`` on the configured device,
and is thread-safe (one lock per model). The model moves to its device lazily, on first use, so
a gunicorn master can preload it on the CPU and each forked worker initialises CUDA itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model_zoo.classifier.parts import head_module, image_side
from model_zoo.classifier.pooling import DEFAULT_POOLING, set_pooling
from model_zoo.device import place
from model_zoo.loading import (
    build_random,
    load_error,
    pretrained_location,
    resolve_source,
    source_version,
)
from model_zoo.registry import ModelSource

log = logging.getLogger(__name__)

META_FILE = "fm_inspect.json"
_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


def canonical_class_name(name: str) -> str:
    """``"Net crack"``, ``"net-crack"`` and ``"net_crack"`` all become ``"net_crack"``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


@dataclass
class ImageClassifier:
    """A loaded classifier. ``classes[i]`` is the name of output ``i``."""

    model: Any
    processor: Any
    classes: list[str]
    version: str
    source: ModelSource
    head_trained: bool
    device_setting: str = "auto"
    meta: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _device: torch.device | None = field(default=None, repr=False)

    @property
    def multi_label(self) -> bool:
        return getattr(self.model.config, "problem_type", None) == "multi_label_classification"

    @property
    def input_size(self) -> int:
        """The square side images are resized to (the processor's; the config's for ViTs)."""
        size = getattr(self.model.config, "image_size", None)
        return image_side(self.processor, int(size if isinstance(size, int) else 224))

    @property
    def device(self) -> torch.device:
        """The device the model runs on; resolved (and the model moved) on first access."""
        if self._device is None:
            self._device = place(self.model, self.device_setting, f"classifier {self.version}")
        return self._device

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        return self.processor(images=rgb, return_tensors="pt")["pixel_values"]

    def logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Bare forward pass (no pre-processing), thread-safe."""
        with self._lock:
            device = self.device
            with torch.inference_mode():
                return self.model(pixel_values=pixel_values.to(device)).logits.float().cpu()

    def probabilities(self, logits: torch.Tensor) -> np.ndarray:
        if self.multi_label:
            return torch.sigmoid(logits).numpy()
        return torch.softmax(logits, dim=-1).numpy()

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features of pre-processed pixels: exactly what the classification
        head (:func:`~model_zoo.classifier.parts.head_module`) receives (CPU, float)."""
        captured: list[torch.Tensor] = []
        grab = lambda _module, args: captured.append(args[0].detach().float().cpu())  # noqa: E731
        hook = head_module(self.model).register_forward_pre_hook(grab)
        try:
            self.logits(pixel_values)
        finally:
            hook.remove()
        return captured[0]

    def embed(self, images: Sequence[Image.Image], batch_size: int = 16) -> np.ndarray:
        """Pooled features of ``images``, shape ``(len(images), D)``, so that
        ``head_logits(embed(x)) == logits(x)``."""
        chunks = [
            self.features(self.preprocess(images[start : start + batch_size])).numpy()
            for start in range(0, len(images), max(1, batch_size))
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The classification head alone, on features from :meth:`embed` (CPU tensors)."""
        with self._lock, torch.inference_mode():
            head = head_module(self.model)
            param = next(head.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            return head(features.to(device)).float().cpu()

    def predict_proba(self, images: Sequence[Image.Image], batch_size: int = 16) -> np.ndarray:
        """Class probabilities, shape ``(len(images), len(classes))``.

        Softmax for single-label models, independent sigmoids for multi-label ones.
        """
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        chunks = []
        for start in range(0, len(images), max(1, batch_size)):
            pixel_values = self.preprocess(images[start : start + batch_size])
            chunks.append(self.probabilities(self.logits(pixel_values)))
        return np.concatenate(chunks, axis=0)

    def save(self, out_dir: str | os.PathLike, **meta: Any) -> Path:
        """Write weights (safetensors), config, processor and ``fm_inspect.json`` metadata."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        config = self.model.config
        if getattr(config, "label_names", None) is not None:  # TimmWrapper saves these names
            config.label_names = [config.id2label[i] for i in range(config.num_labels)]
        with self._lock:
            self.model.save_pretrained(out, safe_serialization=True)
        self.processor.save_pretrained(out)
        record = {
            "classes": list(self.classes),
            "base_model": self.meta.get("base_model", self.source.name),
            "head_trained": True,
            **meta,
        }
        (out / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
        return out


def _is_meaningful(id2label: dict[Any, str] | None) -> bool:
    return bool(id2label) and not all(_GENERIC_LABEL.match(str(v)) for v in id2label.values())


def _label_kwargs(labels: Sequence[str]) -> dict[str, Any]:
    id2label = {i: str(name) for i, name in enumerate(labels)}
    return {
        "num_labels": len(labels),
        "id2label": id2label,
        "label2id": {name: i for i, name in id2label.items()},
    }


def _timm_config(config, kwargs: dict[str, Any]):
    """A ``TimmWrapperConfig`` with the wanted labels. timm's ``save_for_hf`` also writes
    ``num_classes`` into ``model_args``, which transformers would pass to timm twice."""
    args = dict(config.model_args or {})
    args.pop("num_classes", None)
    config.model_args = args or None
    for key, value in kwargs.items():  # num_labels first: it resets id2label
        setattr(config, key, value)
    if kwargs.get("id2label"):
        config.label_names = [kwargs["id2label"][i] for i in range(len(kwargs["id2label"]))]
    return config


def _load_hf(source: ModelSource, kwargs: dict[str, Any]):
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    location, extra = pretrained_location(source)
    config = AutoConfig.from_pretrained(location, **extra)
    if config.model_type == "vit_mae":  # MAE checkpoint: its encoder as a ViT, so no masking
        from transformers import ViTForImageClassification

        from model_zoo.pretrain.configs import vit_config_from_mae

        model = ViTForImageClassification.from_pretrained(
            location, config=vit_config_from_mae(config, **kwargs), **extra
        )
    elif config.model_type == "timm_wrapper":  # timm folders/hub repos, EfficientNet-Lite …
        model = AutoModelForImageClassification.from_pretrained(
            location, config=_timm_config(config, kwargs), ignore_mismatched_sizes=True, **extra
        )
    else:
        model = AutoModelForImageClassification.from_pretrained(
            location, ignore_mismatched_sizes=bool(kwargs), **kwargs, **extra
        )
    processor = AutoImageProcessor.from_pretrained(location, **extra)
    return model, processor


def _classes_for(wanted: Sequence[str]) -> list[str]:
    """The classes of a new head: the wanted ones, else two unnamed ones."""
    return list(wanted or ["class_0", "class_1"])


def _random_classifier(
    source: ModelSource, classes: list[str], problem: dict[str, Any], *, seed: int, device: str
) -> ImageClassifier:
    """A random-weight zoo entry with a head for ``classes``, built with a fixed ``seed``."""
    from transformers import AutoModelForImageClassification

    def make(config):
        for key, value in {**_label_kwargs(classes), **problem}.items():
            setattr(config, key, value)
        return AutoModelForImageClassification.from_config(config)

    model, processor = build_random(source, seed, make)
    return ImageClassifier(
        model=model,
        processor=processor,
        classes=classes,
        version=source_version(source, seed=seed),
        source=source,
        head_trained=False,
        device_setting=device,
        meta={"base_model": source.name},
    )


def _saved_meta(source: ModelSource) -> dict[str, Any]:
    """The ``fm_inspect.json`` of a local directory we wrote; empty for anything else."""
    if source.kind == "local" and (source.path / META_FILE).is_file():
        return json.loads((source.path / META_FILE).read_text())
    return {}


def _keeps_head(config, wanted: Sequence[str], meta: dict[str, Any]) -> bool:
    """Whether the checkpoint's own head serves: always for a version we saved (``meta``);
    otherwise when its classes have real names and share one with ``wanted`` (or nothing is
    wanted)."""
    own_labels = dict(getattr(config, "id2label", {}) or {})
    own_classes = [own_labels[k] for k in sorted(own_labels, key=int)] if own_labels else []
    overlap = {canonical_class_name(c) for c in own_classes} & {
        canonical_class_name(c) for c in wanted
    }
    return bool(meta or (_is_meaningful(own_labels) and (overlap or not wanted)))


def _pretrained_classifier(
    source: ModelSource,
    wanted: list[str],
    problem: dict[str, Any],
    *,
    model_dir: str | os.PathLike | None,
    device: str,
) -> ImageClassifier:
    """A local directory or hub checkpoint: its own head when :func:`_keeps_head`, else a new
    (untrained) head for ``wanted``."""
    meta = _saved_meta(source)
    try:
        from transformers import AutoConfig

        location, extra = pretrained_location(source)
        keep_head = _keeps_head(AutoConfig.from_pretrained(location, **extra), wanted, meta)
        kwargs = {} if keep_head else {**_label_kwargs(_classes_for(wanted)), **problem}
        model, processor = _load_hf(source, kwargs)
    except (OSError, ValueError) as exc:
        raise load_error(
            source, exc, model_dir, setting="CLASSIFIER_MODEL", offline="tiny-vit"
        ) from exc

    if keep_head:
        classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
    else:
        classes = _classes_for(wanted)
    version = str(meta.get("version") or source_version(source))
    if not keep_head:
        log.warning(
            "model %s has no trained head for %s: predictions are untrained until it is fine-tuned",
            source.name,
            classes,
        )
    meta.setdefault("base_model", source.name)
    return ImageClassifier(
        model=model,
        processor=processor,
        classes=classes,
        version=version,
        source=source,
        head_trained=keep_head,
        device_setting=device,
        meta=meta,
    )


def _new_head_pooling(classifier: ImageClassifier, pooling: str | None) -> ImageClassifier:
    """Give a CNN whose head is new the ``pooling`` of :mod:`model_zoo.classifier.pooling`
    (default max); its version names a pooling other than the ImageNet average."""
    kind = DEFAULT_POOLING if pooling in (None, "auto") else pooling
    if classifier.head_trained or not set_pooling(classifier.model, kind):
        return classifier
    if kind != "avg":
        classifier.version = f"{classifier.version}+{kind}pool"
    return classifier


def load_classifier(
    name_or_path: str,
    labels: Sequence[str] | None = None,
    *,
    model_dir: str | os.PathLike | None = None,
    device: str = "auto",
    multi_label: bool = False,
    seed: int = 0,
    pooling: str | None = "auto",
) -> ImageClassifier:
    """Load a classifier.

    ``labels``: the classes the caller wants. A model fine-tuned for named classes keeps its own
    classes (callers map labels to them). A backbone without such a head (random ``tiny-*``
    entries, generic hub checkpoints) gets a new head for ``labels``; its predictions are then
    untrained (``head_trained=False``) until it is fine-tuned. Random entries are built with a
    fixed ``seed`` so that every process builds the same weights. A new head on a timm CNN
    reads its features through ``pooling`` ("auto": max pooling, see
    :mod:`model_zoo.classifier.pooling`; "avg" is ImageNet's); a trained head keeps the
    pooling it was trained with.
    """
    source = resolve_source(name_or_path, model_dir)
    wanted = list(labels or [])
    problem = {"problem_type": "multi_label_classification"} if multi_label else {}
    if source.kind == "random":
        classifier = _random_classifier(
            source, _classes_for(wanted), problem, seed=seed, device=device
        )
    else:
        classifier = _pretrained_classifier(
            source, wanted, problem, model_dir=model_dir, device=device
        )
    return _new_head_pooling(classifier, pooling)
