"""A trained segmentation model: predict, save and load (a versionable folder).

Folder layout::

    DIR/segmentation.safetensors   the network's weights
    DIR/segmentation.json          encoder, labels, input size, threshold, how it predicts
                                   and metrics (IoU per label on the hold-out masks, ...)

Prediction (``mode``): ``tiles`` (format 2, the default) runs the network over the image in
overlapping tiles of ``input_size`` at full resolution up to ``max_side``
(:mod:`model_zoo.segmentation.tiling`); ``resize`` (format 1 folders) resizes each image to one
``input_size`` square.

Inference is thread-safe (one lock per model) and moves the network to its device on first
use, like the classifier.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from model_zoo.device import place
from model_zoo.segmentation.crops import to_input
from model_zoo.segmentation.data import image_tensor
from model_zoo.segmentation.encoders import encoder_spec
from model_zoo.segmentation.network import build_network
from model_zoo.segmentation.tiling import DEFAULT_MAX_SIDE, predict_tiled

WEIGHTS_FILE = "segmentation.safetensors"
META_FILE = "segmentation.json"
FORMAT_VERSION = 2
MODES = ("tiles", "resize")


@dataclass
class SegmentationModel:
    network: nn.Module
    labels: list[str]
    encoder: str
    input_size: int
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)
    device_setting: str = "auto"
    mode: str = "tiles"
    max_side: int = DEFAULT_MAX_SIDE
    overlap: int = 32
    min_side: int = 0  # smaller images are enlarged towards it (tiling.working_size)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _device: torch.device | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = place(self.network, self.device_setting, f"segmentation {self.encoder}")
        return self._device

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock:
            device = self.device
            self.network.eval()
            with torch.inference_mode():
                return self.network(x.to(device)).float().cpu()

    def predict(
        self, images: Sequence[Image.Image], batch_size: int = 8
    ) -> list[dict[str, np.ndarray]]:
        """Per image, ``{label: probability map}``: float32 ``(H, W)`` in [0, 1] at the
        image's original size."""
        if self.mode == "tiles":
            return [self._predict_tiles(image, batch_size) for image in images]
        out: list[dict[str, np.ndarray]] = []
        for start in range(0, len(images), max(1, batch_size)):
            chunk = images[start : start + batch_size]
            probs = torch.sigmoid(self.logits(image_tensor(chunk, self.input_size)))
            for image, p in zip(chunk, probs, strict=True):
                w, h = image.size
                full = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)
                maps = full[0].clamp(0, 1).numpy().astype(np.float32)
                out.append({label: maps[i] for i, label in enumerate(self.labels)})
        return out

    def _predict_tiles(self, image: Image.Image, batch_size: int) -> dict[str, np.ndarray]:
        maps = predict_tiled(
            lambda tiles: self.logits(to_input(tiles)),
            image,
            self.input_size,
            self.overlap,
            self.max_side,
            batch=max(1, batch_size),
            min_side=self.min_side,
        )
        return {label: maps[i] for i, label in enumerate(self.labels)}

    def predict_masks(self, images: Sequence[Image.Image]) -> list[dict[str, np.ndarray]]:
        """Per image, ``{label: bool mask}`` at the model's threshold."""
        return [
            {label: p >= self.threshold for label, p in maps.items()}
            for maps in self.predict(images)
        ]

    # ------------------------------------------------------------------ folder
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        record = {
            "format_version": FORMAT_VERSION,
            "encoder": self.encoder,
            "labels": list(self.labels),
            "threshold": float(self.threshold),
            "input_size": self.input_size,
            "mode": self.mode,
            "max_side": self.max_side,
            "min_side": self.min_side,
            "overlap": self.overlap,
            **self.meta,
        }
        (folder / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        return folder


_LAYOUT_KEYS = (
    "encoder",
    "labels",
    "threshold",
    "input_size",
    "format_version",
    "mode",
    "max_side",
    "min_side",
    "overlap",
)


def is_segmentation_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / WEIGHTS_FILE).is_file() and (folder / META_FILE).is_file()


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The folder's ``segmentation.json`` (ValueError when missing or unreadable)."""
    path = Path(folder) / META_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"no readable segmentation model in {folder}: {exc}") from None
    if not isinstance(record, dict) or not record.get("labels") or "encoder" not in record:
        raise ValueError(f"{path} lacks 'encoder' or 'labels'")
    return record


def load_segmentation(folder: str | Path, device: str = "auto") -> SegmentationModel:
    """A model saved by :meth:`SegmentationModel.save` (ValueError when it cannot be)."""
    record = read_meta(folder)
    spec = encoder_spec(record["encoder"])
    labels = [str(x) for x in record["labels"]]
    network = build_network(spec, len(labels), pretrained=False)
    try:
        network.load_state_dict(load_file(str(Path(folder) / WEIGHTS_FILE)))
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"the weights in {folder} do not load: {exc}") from None
    network.eval()
    meta = {k: v for k, v in record.items() if k not in _LAYOUT_KEYS}
    old = int(record.get("format_version", 1)) < 2
    return SegmentationModel(
        network=network,
        labels=labels,
        encoder=spec.name,
        input_size=int(record.get("input_size") or spec.input_size),
        threshold=float(record.get("threshold", 0.5)),
        meta=meta,
        device_setting=device,
        mode="resize" if old else str(record.get("mode", "tiles")),
        max_side=int(record.get("max_side") or DEFAULT_MAX_SIDE),
        overlap=int(record.get("overlap", 32)),
        min_side=int(record.get("min_side") or 0),  # saved before it existed: none
    )
