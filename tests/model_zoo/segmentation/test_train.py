"""The segmentation model: training on masks, hold-out IoU, predict at original size, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from model_zoo.segmentation import (
    ENCODERS,
    SegmentationSample,
    SegTrainConfig,
    TooFewMasks,
    iou_per_label,
    is_segmentation_folder,
    load_segmentation,
    mean_iou,
    regions_from_probabilities,
    train_segmentation,
)
from model_zoo.segmentation.data import holdout_split
from model_zoo.segmentation.encoders import load_encoder_weights
from model_zoo.segmentation.losses import LOSSES, build_loss
from model_zoo.segmentation.network import build_network

TINY = SegTrainConfig(
    encoder="tiny-random", pretrained=False, epochs=14, patience=14, device="cpu", lr=1e-2
)


def _spots(n: int, seed: int = 0, size: int = 72) -> list[SegmentationSample]:
    """Bright rectangles ("spot") on noise; every other image also a dark bar ("bar")."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.normal(110, 12, (size, size, 3))
        spot = np.zeros((size, size), bool)
        y, x = rng.integers(4, size - 28, 2)
        h, w = rng.integers(10, 24, 2)
        spot[y : y + h, x : x + w] = True
        img[spot] += 90
        bar = np.zeros((size, size), bool)
        if i % 2:
            r = int(rng.integers(2, size - 8))
            bar[r : r + 5, :] = True
            bar &= ~spot
            img[bar] -= 90
        image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        out.append(SegmentationSample(image, {"spot": spot, "bar": bar}, key=f"t{i}"))
    return out


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: more threads only contend on a shared machine
    try:
        yield train_segmentation(_spots(24), ["spot", "bar"], TINY)
    finally:
        torch.set_num_threads(threads)


def test_training_learns_the_masks_and_reports_holdout_iou(trained):
    meta = trained.meta
    assert meta["holdout_samples"] == 5 and meta["train_samples"] == 19
    assert set(meta["holdout_iou"]) == {"spot", "bar"}
    assert meta["holdout_iou"]["spot"] > 0.6
    assert meta["holdout_mean_iou"] == pytest.approx(mean_iou(meta["holdout_iou"]))
    assert 1 <= meta["best_epoch"] <= meta["epochs_run"] <= TINY.epochs
    # the hold-out score is reproducible from the model and the held-out samples
    samples = _spots(24)
    held = [s for s in samples if s.key in meta["holdout_keys"]]
    truth = [s.masks for s in held]
    again = iou_per_label(trained.predict_masks([s.image for s in held]), truth, trained.labels)
    assert again["spot"] == pytest.approx(meta["holdout_iou"]["spot"])


def test_predict_gives_probability_maps_at_the_original_size(trained):
    image = Image.new("RGB", (90, 50), (120, 120, 120))
    (maps,) = trained.predict([image])
    assert set(maps) == {"spot", "bar"}
    for prob in maps.values():
        assert prob.shape == (50, 90) and prob.dtype == np.float32
        assert 0.0 <= prob.min() <= prob.max() <= 1.0


def test_save_and_load_give_the_same_predictions(trained, tmp_path):
    folder = trained.save(tmp_path / "seg")
    assert is_segmentation_folder(folder)
    loaded = load_segmentation(folder, device="cpu")
    assert loaded.labels == trained.labels and loaded.encoder == "tiny-random"
    assert loaded.meta["holdout_iou"] == trained.meta["holdout_iou"]
    image = _spots(1, seed=9)[0].image
    np.testing.assert_allclose(
        loaded.predict([image])[0]["spot"], trained.predict([image])[0]["spot"], atol=1e-5
    )


def test_the_enlarging_of_small_images_is_saved_with_the_model(trained, tmp_path):
    import json

    assert trained.min_side == TINY.min_side > 72  # the 72 px samples were enlarged
    folder = trained.save(tmp_path / "seg")
    assert load_segmentation(folder).min_side == TINY.min_side
    meta = folder / "segmentation.json"
    record = json.loads(meta.read_text())
    del record["min_side"]  # saved before the setting existed: never enlarged
    meta.write_text(json.dumps(record))
    assert load_segmentation(folder).min_side == 0


def test_loading_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no readable segmentation model"):
        load_segmentation(tmp_path)


def test_too_few_masks_is_its_own_error():
    with pytest.raises(TooFewMasks, match="at least 10"):
        train_segmentation(_spots(9), ["spot"], TINY)


def test_a_mask_that_does_not_fit_its_image_names_the_sample():
    samples = _spots(12)
    samples[3].masks = {"spot": np.zeros((10, 10), bool)}
    with pytest.raises(ValueError, match="sample t3"):
        train_segmentation(samples, ["spot"], TINY)


def test_holdout_split_is_seeded_disjoint_and_never_empty():
    train, held = holdout_split(10, 0.2, seed=1)
    assert sorted(train + held) == list(range(10)) and len(held) == 2
    assert holdout_split(10, 0.2, seed=1) == (train, held)
    assert len(holdout_split(2, 0.01, 0)[1]) == 1 and len(holdout_split(3, 0.99, 0)[0]) == 1


def test_iou_per_label_pools_images_and_skips_labels_nobody_drew():
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[:1] = True
    pred = [{"x": a}, {"x": b}]
    true = [{"x": b}, {"x": b}]
    out = iou_per_label(pred, true, ["x", "y"])
    assert out["x"] == pytest.approx((4 + 4) / (8 + 4))
    assert out["y"] is None and mean_iou(out) == pytest.approx(out["x"])
    with pytest.raises(ValueError, match="shape|mask"):
        iou_per_label([{"x": a}], [{"x": np.zeros((3, 3), bool)}], ["x"])


def test_regions_are_connected_components_scored_by_mean_probability():
    prob = np.zeros((20, 20), np.float32)
    prob[2:6, 2:6] = 0.9
    prob[10:15, 10:15] = 0.6
    prob[18, 18] = 0.99  # one pixel: below min_area
    regions = regions_from_probabilities(prob, threshold=0.5, min_area=4)
    assert [round(r.score, 3) for r in regions] == [0.9, 0.6]
    assert regions[1].mask.sum() == 25 and regions[1].mask[12, 12]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_are_finite_and_lower_for_a_better_prediction(name):
    loss = build_loss(name)
    target = torch.zeros((1, 1, 8, 8))
    target[..., 2:5, 2:5] = 1
    good = loss(target * 12 - 6, target)
    bad = loss(-(target * 12 - 6), target)
    assert torch.isfinite(good) and good < bad
    with pytest.raises(ValueError, match="unknown segmentation loss"):
        build_loss("nope")


def test_timm_classification_weights_load_into_the_encoder():
    spec = ENCODERS["tiny-random"]
    source = timm.create_model(spec.timm_name)
    network = build_network(spec, 1, pretrained=False)
    load_encoder_weights(network.encoder.model, source.state_dict(), "test")
    key = "conv_stem.weight"
    assert torch.equal(network.encoder.model.state_dict()[key], source.state_dict()[key])
    with pytest.raises(ValueError, match="do not fit"):
        load_encoder_weights(network.encoder.model, {}, "empty")


def test_the_default_encoder_starts_from_the_shipped_imagenet_weights():
    spec = ENCODERS["efficientnet_lite0"]
    random_init = build_network(spec, 1, pretrained=False).encoder.model.state_dict()
    pretrained = build_network(spec, 1, pretrained=True).encoder.model.state_dict()
    shipped = spec.pretrained()
    key = "conv_stem.weight"
    assert torch.equal(pretrained[key], shipped[key])
    assert not torch.equal(pretrained[key], random_init[key])
