"""Segment Anything refinement of CAM proposals (the ``segment-anything`` package).

Each CAM component prompts SAM with its bounding box and a positive point at the map's peak;
SAM's mask replaces the component's mask (a component whose SAM mask comes back empty keeps its
CAM mask). The image is given to SAM at most ``image_encoder.img_size`` (1024) pixels on its
longer side — the resolution SAM works at anyway — and masks are upsampled box by box to the
original size, so memory stays bounded for very large images.

Weights: ``load_sam(checkpoint, model_type)`` builds ``sam_model_registry[model_type]`` from the
checkpoint once per process (``vit_b``, ``vit_l``, ``vit_h``; Meta's checkpoints are
Apache-2.0). Without a checkpoint there is no SAM refinement; :func:`sam_note` says so.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from model_zoo.cam.proposals import Proposal, upsample

log = logging.getLogger(__name__)

SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h", "default")
_CACHE: dict[tuple[str, str, str], SamRefiner] = {}
_CACHE_LOCK = threading.Lock()


def sam_note(checkpoint: str | None, model_type: str = "vit_b") -> str | None:
    """Why SAM refinement is unavailable (None when it is configured)."""
    if not checkpoint:
        return (
            "SAM refinement unavailable: set SAM_CHECKPOINT to a Segment Anything checkpoint "
            "(e.g. sam_vit_b_01ec64.pth) and SAM_MODEL_TYPE (vit_b, vit_l or vit_h) to enable "
            'model_refine="sam"'
        )
    if not Path(checkpoint).is_file():
        return f"SAM refinement unavailable: SAM_CHECKPOINT {checkpoint!r} is not a file"
    if model_type not in SAM_MODEL_TYPES:
        return (
            f"SAM refinement unavailable: SAM_MODEL_TYPE {model_type!r} is not one of "
            f"{', '.join(SAM_MODEL_TYPES)}"
        )
    return None


class SamRefiner:
    """Prompts a ``SamPredictor`` with CAM components; thread-safe (one lock per model)."""

    def __init__(self, predictor, name: str = "sam"):
        self.predictor = predictor
        self.name = name
        self._lock = threading.Lock()

    @property
    def side(self) -> int:
        return int(self.predictor.model.image_encoder.img_size)

    def refine(self, image: Image.Image, groups: list[list[Proposal]]) -> None:
        """Replace, in place, the mask of every proposal in ``groups`` (all on ``image``)."""
        width, height = image.size
        scale = min(1.0, self.side / max(width, height))
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        small = np.asarray(rgb.resize((small_w, small_h), Image.Resampling.BILINEAR))
        sx, sy = small_w / width, small_h / height
        with self._lock:
            self.predictor.set_image(small, image_format="RGB")
            try:
                for group in groups:
                    for proposal in group:
                        self._refine_one(proposal, sx, sy)
            finally:
                self.predictor.reset_image()

    def _refine_one(self, proposal: Proposal, sx: float, sy: float) -> None:
        x0, y0, x1, y1 = proposal.box
        box = np.array([x0 * sx, y0 * sy, x1 * sx, y1 * sy], dtype=np.float32)
        point = np.array([[proposal.peak[0] * sx, proposal.peak[1] * sy]], dtype=np.float32)
        masks, iou, _ = self.predictor.predict(
            point_coords=point, point_labels=np.array([1]), box=box, multimask_output=False
        )
        mask = np.asarray(masks[0], dtype=bool)
        proposal.extra["sam_iou"] = float(iou[0])
        if not mask.any():
            proposal.extra["sam"] = "empty mask, CAM mask kept"
            return
        ys, xs = np.nonzero(mask)
        my0, my1, mx0, mx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        width, height = proposal.size
        nx0, ny0 = int(mx0 / sx), int(my0 / sy)
        nx1 = min(width, max(nx0 + 1, int(np.ceil(mx1 / sx))))
        ny1 = min(height, max(ny0 + 1, int(np.ceil(my1 / sy))))
        crop = mask[my0:my1, mx0:mx1]
        if crop.shape != (ny1 - ny0, nx1 - nx0):
            crop = upsample(crop.astype(np.float32), nx1 - nx0, ny1 - ny0) >= 0.5
        if not crop.any():
            return
        proposal.box, proposal.crop = (nx0, ny0, nx1, ny1), crop
        proposal.extra["sam"] = "refined"


def load_sam(checkpoint: str, model_type: str = "vit_b", device: str = "cpu") -> SamRefiner:
    """The SAM refiner for a checkpoint, built once per process."""
    note = sam_note(checkpoint, model_type)
    if note:
        raise FileNotFoundError(note)
    key = (str(checkpoint), model_type, str(device))
    with _CACHE_LOCK:
        if key not in _CACHE:
            from segment_anything import SamPredictor, sam_model_registry

            log.info("loading SAM %s from %s", model_type, checkpoint)
            model = sam_model_registry[model_type](checkpoint=str(checkpoint))
            model.to(device).eval()
            _CACHE[key] = SamRefiner(SamPredictor(model), name=f"sam-{model_type}")
        return _CACHE[key]


def tiny_sam(image_size: int = 128, seed: int = 0):
    """A random-weight SAM with a small image encoder (tests and benchmarks of the plumbing).

    Built from the package's own modules (``ImageEncoderViT``, ``PromptEncoder``, ``MaskDecoder``,
    ``TwoWayTransformer``); its masks are meaningless, its shapes and prompts are real.
    """
    from functools import partial

    import torch
    from segment_anything import SamPredictor
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    dim, patch = 32, 16
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam(
            image_encoder=ImageEncoderViT(
                img_size=image_size,
                patch_size=patch,
                embed_dim=dim,
                depth=1,
                num_heads=2,
                mlp_ratio=2,
                out_chans=dim,
                qkv_bias=True,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                use_rel_pos=True,
                window_size=4,
                global_attn_indexes=(0,),
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=dim,
                image_embedding_size=(image_size // patch, image_size // patch),
                input_image_size=(image_size, image_size),
                mask_in_chans=8,
            ),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3,
                transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
                transformer_dim=dim,
                iou_head_depth=2,
                iou_head_hidden_dim=32,
            ),
        )
    model.eval()
    return SamRefiner(SamPredictor(model), name="sam-tiny-random")
