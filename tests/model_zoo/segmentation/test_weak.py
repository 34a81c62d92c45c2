"""Pseudo-masks from a CAM and the dark pixels, and the weakly supervised training round."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from model_zoo.classifier.model import load_classifier
from model_zoo.segmentation import SegTrainConfig, weak
from model_zoo.segmentation.pseudo import PseudoConfig, dark_regions, pseudo_mask
from model_zoo.segmentation.weak import WeakConfig, pseudo_samples, train_weak_segmentation


def _cracked(seed: int, size: int = 96, crack: bool = True) -> tuple[Image.Image, np.ndarray]:
    """Textured wall; a dark diagonal line 2 px wide (the crack); a dark blob far from it."""
    rng = np.random.default_rng(seed)
    grey = rng.normal(170, 6, (size, size))
    truth = np.zeros((size, size), bool)
    if crack:
        for i in range(10, size - 10):
            truth[i, i // 2 + 20 : i // 2 + 22] = True
        grey[truth] -= 90
    return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB"), truth


def test_the_pseudo_mask_keeps_the_dark_line_inside_the_cam_and_ignores_a_band():
    image, truth = _cracked(0)
    grey = np.asarray(image.convert("L"), np.float32) / 255
    cam = np.zeros((12, 12), np.float32)
    cam[2:10, 2:9] = 1.0  # the classifier's coarse region around the crack
    fg, bg = pseudo_mask(grey, cam, PseudoConfig(radius=6))
    assert (fg & truth).sum() >= 0.7 * truth.sum()
    assert (fg & ~truth).sum() <= 0.5 * fg.sum()
    assert not (bg & truth).any() and not (fg & bg).any()
    assert (~fg & ~bg).sum() > 0  # an ignored band between
    empty_fg, _ = pseudo_mask(grey, np.zeros((12, 12), np.float32), PseudoConfig())
    assert not empty_fg.any()  # no CAM, no foreground


def test_the_dark_baseline_finds_dark_lines_without_any_learning():
    image, truth = _cracked(1)
    regions = dark_regions(image, min_area=10, radius=6)
    found = np.any(regions, axis=0)
    assert (found & truth).sum() >= 0.7 * truth.sum()


@pytest.fixture(scope="module")
def classifier():
    return load_classifier("tiny-vit", ["crack", "no_defect"], device="cpu", seed=0)


TINY = SegTrainConfig(
    encoder="tiny-random", pretrained=False, epochs=2, holdout_fraction=0.0, min_samples=2,
    device="cpu", input_size=64,
)  # fmt: skip


def _coarse_cams(_classifier, examples, index, _config):
    """The CAM a good classifier gives: a coarse box around the crack of each defect image."""
    cam = np.zeros((12, 12), np.float32)
    cam[2:10, 2:9] = 1.0
    return [{c: cam for c in e.classes if c in index} for e in examples]


def test_a_weak_round_trains_on_pseudo_masks_and_background_images(classifier, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(weak, "_cams", _coarse_cams)
    examples = [(_cracked(i)[0], "crack") for i in range(6)]
    examples += [(_cracked(10 + i, crack=False)[0], "no_defect") for i in range(4)]
    config = WeakConfig(segmentation=TINY, min_pseudo=2, rounds=2)
    config.pseudo.radius = 6
    samples, stats = pseudo_samples(classifier, examples, {"crack": "crack"}, config)
    assert stats["defect_images"] == 6 and stats["background_images"] == 4
    assert stats["with_foreground"] == 6
    assert all(s.ignore is not None for s in samples[:6]) and all(not s.masks for s in samples[6:])
    truth = _cracked(0)[1]
    assert (samples[0].masks["crack"] & truth).sum() >= 0.7 * truth.sum()
    model, record = train_weak_segmentation(classifier, examples, ["crack"], config)
    assert model is not None and record["status"] == "trained"
    assert record["rounds"] == 2 or "stopped after round 1" in record["self_training"]
    assert model.labels == ["crack"] and model.meta["source"] == "weak"
    (maps,) = model.predict([examples[0][0]])
    assert maps["crack"].shape == (96, 96)


def test_pseudo_masks_with_nothing_usable_leave_no_model_and_say_so(classifier):
    blank = [(Image.new("RGB", (64, 64), (128, 128, 128)), "crack") for _ in range(4)]
    blank += [(Image.new("RGB", (64, 64), (90, 90, 90)), "no_defect") for _ in range(2)]
    model, record = train_weak_segmentation(
        classifier, blank, ["crack"], WeakConfig(segmentation=TINY, min_pseudo=2)
    )
    assert model is None and record["status"] == "unusable"
    assert "CAM keeps serving" in record["reason"] and "0" in record["reason"]
