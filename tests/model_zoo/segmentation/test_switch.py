"""Which mask source serves, and CAM proposals as per-label masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model_zoo.segmentation.switch import check_mask_source, choose_mask_source


def test_segmentation_serves_once_it_beats_cam():
    assert choose_mask_source(0.6, 0.2).source == "segmentation"
    choice = choose_mask_source(0.2, 0.3)
    assert choice.source == "cam" and "0.200" in choice.reason and "0.300" in choice.reason
    assert choose_mask_source(0.3, 0.3).source == "cam"  # a tie keeps CAM
    assert choose_mask_source(0.4, None).source == "segmentation"
    assert choose_mask_source(None, 0.1).source == "cam"


def test_the_label_config_can_force_either_source():
    assert choose_mask_source(0.9, 0.1, forced="cam").source == "cam"
    forced = choose_mask_source(0.1, 0.9, forced="Segmentation")
    assert forced.source == "segmentation" and "forced" in forced.reason


def test_without_a_segmentation_model_cam_serves_even_when_forced():
    choice = choose_mask_source(None, None, forced="segmentation", available=False)
    assert choice.source == "cam" and "no segmentation model" in choice.reason


def test_an_unknown_source_is_a_clear_error():
    with pytest.raises(ValueError, match="auto, cam, segmentation"):
        check_mask_source("sam")


def test_cam_masks_are_per_label_unions_at_image_size():
    from model_zoo.cam.pipeline import CamConfig
    from model_zoo.classifier.model import load_classifier
    from model_zoo.segmentation.cam_score import cam_masks

    classifier = load_classifier("tiny-vit", ["crack", "rust"], multi_label=True, device="cpu")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (70, 90, 3), dtype=np.uint8))
    config = CamConfig(score_threshold=0.0, min_area=1)
    (masks,) = cam_masks(classifier, [image], config, {0: "Crack", 1: "Rust"})
    assert set(masks) == {"Crack", "Rust"}
    for mask in masks.values():
        assert mask.shape == (70, 90) and mask.dtype == bool and mask.any()
