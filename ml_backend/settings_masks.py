"""The settings of the mask sources: segmentation, CAM, interactive and CLIPSeg masks.

Declared once here (see :mod:`ml_backend.settings_spec`); :mod:`ml_backend.settings` derives
the ``Settings`` dataclass, ``from_env`` and the configuration table from them.
"""

from __future__ import annotations

from ml_backend.settings_spec import Setting, boolean, concern, integer, number, one_of, text

MASKS: list[Setting] = [
    *concern(
        "Defect masks learned from submitted masks (segmentation)",
        Setting(
            "SEGMENTATION_ENCODER",
            "segmentation_encoder",
            text(),
            "efficientnet_lite0",
            "Encoder of the segmentation model learned from submitted `<BrushLabels>` masks: "
            "`efficientnet_lite0` (packaged ImageNet weights) or `tiny-random`. Per tag: "
            "`model_mask_source` (auto/cam/segmentation) and `model_mm_per_pixel`.",
        ),
        Setting(
            "SEGMENTATION_EPOCHS",
            "segmentation_epochs",
            integer(1),
            "30",
            "Most epochs of one segmentation training round (early stopping on hold-out IoU).",
        ),
        Setting(
            "SEGMENTATION_INPUT_SIZE",
            "segmentation_input_size",
            integer(32),
            "256",
            "Tile side (a multiple of 32) of the segmentation model: it trains on crops of this "
            "side and predicts over each image in overlapping tiles of it, at full resolution "
            "up to 2048 px.",
        ),
        Setting(
            "SEGMENTATION_MIN_SIDE",
            "segmentation_min_side",
            integer(0),
            "416",
            "Images whose shorter side is under this many pixels are enlarged towards it (at "
            "most 2x) before the segmentation model trains on them or predicts their masks: a "
            "thin crack keeps a few pixels of width through the encoder (on real 208 px wall "
            "tiles offline, +0.02 to +0.05 mean IoU; 4x the cost for such small images). 0: "
            "never enlarged.",
        ),
        Setting(
            "SEGMENTATION_MIN_MASKS",
            "segmentation_min_masks",
            integer(2),
            "10",
            "Fewest masked images a round needs to train the segmentation model on them.",
        ),
        Setting(
            "WEAK_SEGMENTATION",
            "weak_segmentation",
            boolean(),
            "true",
            "Before `SEGMENTATION_MIN_MASKS` corrected masks, train the segmentation model on "
            "pseudo-masks from the classifier's CAMs (image labels only, weakly supervised); it "
            "serves when it beats CAM on the corrected masks there are, by default when there "
            "are none.",
        ),
        Setting(
            "WEAK_SEGMENTATION_EPOCHS",
            "weak_segmentation_epochs",
            integer(1),
            "8",
            "Epochs of the weakly supervised segmentation training.",
        ),
        Setting(
            "WEAK_SEGMENTATION_IMAGES",
            "weak_segmentation_images",
            integer(10),
            "300",
            "Most labeled images per class the weakly supervised model learns from in one round "
            "(its cost grows with them).",
        ),
    ),
    *concern(
        "Defect masks (CAM)",
        Setting(
            "CAM_METHOD",
            "cam_method",
            text(str.lower),
            "gradcam",
            "CAM method for defect `<BrushLabels>`: `gradcam`, `gradcam++`, `xgradcam`, "
            "`layercam`, `eigencam`, `scorecam`, `hirescam`. Per tag: `model_cam_method`.",
        ),
        Setting(
            "CAM_THRESHOLD",
            "cam_threshold",
            text(str.lower),
            "relative:0.5",
            "CAM -> mask: `relative:R` (share of the map's maximum), `fixed:T` (level of the [0, "
            "1] map) or `otsu`. Per tag: `model_cam_threshold`.",
        ),
        Setting(
            "CAM_MIN_AREA",
            "cam_min_area",
            integer(0),
            "64",
            "Smallest CAM region kept, in original-image pixels. Per tag: `model_min_area`.",
        ),
        Setting(
            "CAM_REFINE",
            "cam_refine",
            text(str.lower),
            "guided+ridge",
            "CAM refinements joined with `+`: none, guided (guided filter with the image as "
            "guide), ridge (CAM-gated ridge filter for crack and net crack), superpixel, tta, "
            "advcam, sam (per tag: `model_refine`).",
        ),
        Setting(
            "CAM_LAYERS",
            "cam_layers",
            text(str.lower),
            "last",
            "CAM target layers: `last` (last feature map) or `multi` (it and two finer stages, "
            "fused) (per tag: `model_cam_layers`).",
        ),
        Setting(
            "CAM_INPUT_SIZE",
            "cam_input_size",
            integer(0),
            "0",
            "Square input side of the shared classification + CAM pass; 0: the model's own. At "
            "another size the Choices get their own pass at the model's size (per tag: "
            "`model_cam_input_size`).",
        ),
        Setting(
            "SAM_CHECKPOINT",
            "sam_checkpoint",
            text(),
            "",
            "Segment Anything checkpoint (e.g. `sam_vit_b_01ec64.pth`) for the `sam` refinement; "
            "without it `sam` is refused at `/setup` and `/health` has a note.",
        ),
        Setting(
            "SAM_MODEL_TYPE",
            "sam_model_type",
            text(str.lower),
            "vit_b",
            "SAM architecture of `SAM_CHECKPOINT`: `vit_b`, `vit_l` or `vit_h`.",
        ),
    ),
    *concern(
        "Interactive masks",
        Setting(
            "INTERACTIVE_SOURCE",
            "interactive_source",
            one_of("auto", "sam", "fallback", transform=str.lower),
            "auto",
            "Mask source for smart-tool clicks and boxes: `sam` (needs `SAM_CHECKPOINT`), "
            "`fallback` (superpixels and a crack ridge filter, no weights) or `auto` (`sam` when "
            "`SAM_CHECKPOINT` is set). See [interactive masks](interactive.md).",
        ),
        Setting(
            "INTERACTIVE_CACHE_MB",
            "interactive_cache_mb",
            integer(0),
            "512",
            "Per-worker memory for cached image embeddings of interactive requests (LRU).",
        ),
    ),
    *concern(
        "Foreground masks (CLIPSeg)",
        Setting(
            "CLIPSEG_MODEL",
            "clipseg_model",
            text(),
            "clipseg-rd64-refined",
            "CLIPSeg for Foreground/Background `<BrushLabels>`: a zoo name (`tiny-clipseg` "
            "offline), a local directory or a hub id (`CIDAS/clipseg-rd64-refined@<revision>`). "
            "Per tag: `model_name`.",
        ),
        Setting(
            "CLIPSEG_ENSEMBLE",
            "clipseg_ensemble",
            text(str.upper),
            "E3",
            "Prompt-ensemble preset (`E1`, `E2`, `E3`) for labels without a `prompts` attribute. "
            "Per tag: `model_ensemble`.",
        ),
        Setting(
            "FOREGROUND_PROMPTS",
            "foreground_prompts",
            text(),
            "",
            "`;`-separated foreground prompts replacing the preset's (a label's `prompts` "
            "attribute wins).",
        ),
        Setting(
            "BACKGROUND_PROMPTS",
            "background_prompts",
            text(),
            "",
            "`;`-separated background prompts replacing the preset's (a label's `prompts` "
            "attribute wins).",
        ),
        Setting(
            "UNCERTAINTY_THRESHOLD",
            "uncertainty_threshold",
            number(0.0, 1.0),
            "0.5",
            "Pixels whose ensemble uncertainty is at least this go to the `Uncertain` label. Per "
            "tag: `model_uncertainty_threshold`.",
        ),
    ),
]
