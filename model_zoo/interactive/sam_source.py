"""Interactive masks from Segment Anything: clicks and boxes prompt ``SamPredictor``.

The image encoder runs once per image (at most ``image_encoder.img_size`` px on the longer
side, SAM's own working size); its embedding is kept in the cache, and a later click on the same
image restores it into the predictor, so it pays only the prompt encoder and the mask decoder.

Prompt groups (:func:`~model_zoo.interactive.prompts.prompt_groups`): one SAM call per box with
the clicks inside it, one for the clicks outside every box. Each group is decoded
with ``multimask_output=True`` and the mask with the best predicted IoU is kept; the masks of
all groups are united. The SAM model comes from :func:`model_zoo.sam.refiner.load_sam` (loaded once per
process and shared with the CAM refinement); this source owns a second ``SamPredictor`` on the
same model, with its own lock, so the two never overwrite each other's image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.prompts import Prompts, prompt_groups
from model_zoo.interactive.source import (
    DEFAULT_CACHE_BYTES,
    InteractiveMask,
    checked_call,
    to_original_size,
    working_image,
)


@dataclass
class SamEmbedding:
    features: object  # torch.Tensor (1, C, h, w)
    original_size: tuple[int, int]  # (H, W) of the working image given to the predictor
    input_size: tuple[int, int]  # (H, W) after SAM's ResizeLongestSide
    sx: float
    sy: float

    @property
    def nbytes(self) -> int:
        return int(self.features.element_size() * self.features.nelement())


class SamSource:
    def __init__(self, model, name: str = "sam", cache: ByteLRU | None = None):
        from segment_anything import SamPredictor

        self.predictor = SamPredictor(model)
        self.name = name
        self.cache = cache if cache is not None else ByteLRU(DEFAULT_CACHE_BYTES)
        self._lock = threading.Lock()

    @property
    def side(self) -> int:
        return int(self.predictor.model.image_encoder.img_size)

    def embed(self, image: Image.Image) -> SamEmbedding:
        small, sx, sy = working_image(image, self.side)
        with self._lock:
            self.predictor.set_image(small, image_format="RGB")
            try:
                p = self.predictor
                return SamEmbedding(p.features, p.original_size, p.input_size, sx, sy)
            finally:
                self.predictor.reset_image()

    def segment(
        self, image: Image.Image, prompts: Prompts, key: str | None = None, shape: str | None = None
    ) -> InteractiveMask:
        width, height, key = checked_call(image, prompts, key, shape)
        embedding = self.cache.get_or_compute((self.name, key), lambda: self.embed(image))
        groups = prompt_groups(prompts, width, height)
        with self._lock:
            self._restore(embedding)
            try:
                decoded = [
                    self._decode(embedding, points, labels, box) for points, labels, box in groups
                ]
            finally:
                self.predictor.reset_image()
        union = np.logical_or.reduce([mask for mask, _ in decoded])
        score = float(np.mean([s for _, s in decoded]))
        return InteractiveMask(
            to_original_size(union, width, height),
            score,
            self.name,
            {"groups": len(groups), "scores": [round(s, 4) for _, s in decoded]},
        )

    def _restore(self, embedding: SamEmbedding) -> None:
        p = self.predictor
        p.features = embedding.features
        p.original_size, p.input_size = embedding.original_size, embedding.input_size
        p.orig_h, p.orig_w = embedding.original_size
        p.input_h, p.input_w = embedding.input_size
        p.is_image_set = True

    def _decode(self, emb: SamEmbedding, points, labels, box) -> tuple[np.ndarray, float]:
        coords = None
        if points:
            coords = np.array([[x * emb.sx, y * emb.sy] for x, y in points], dtype=np.float32)
        sbox = None
        if box is not None:
            sbox = np.array([box[0] * emb.sx, box[1] * emb.sy, box[2] * emb.sx, box[3] * emb.sy])
        masks, iou, _ = self.predictor.predict(
            point_coords=coords,
            point_labels=np.array(labels) if points else None,
            box=sbox,
            multimask_output=True,
        )
        best = int(np.argmax(iou))
        return np.asarray(masks[best], dtype=bool), float(iou[best])
