"""AdaBN, the pooling of a new CNN head, and fine-tuning with an unlabeled pool."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from model_zoo.classifier.adabn import AdaBN, adapt_batchnorm, batchnorm_layers
from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.pooling import pooling_of
from model_zoo.classifier.training import TrainConfig, fine_tune
from model_zoo.classifier.tta import predict_proba_tta


@pytest.fixture(scope="module")
def cnn(timm_cnn):
    return timm_cnn


def _image(level: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((48, 48, 3)) * 60 + level).astype(np.uint8))


def test_a_new_cnn_head_pools_max_and_its_version_says_so(cnn, tmp_path):
    clf = load_classifier(str(cnn), ["a", "b"], device="cpu")
    assert pooling_of(clf.model) == "max" and clf.version.endswith("+maxpool")
    assert clf.model.config.model_args["global_pool"] == "max"
    avg = load_classifier(str(cnn), ["a", "b"], device="cpu", pooling="avg")
    assert pooling_of(avg.model) == "avg" and not avg.version.endswith("pool")
    clf.head_trained = True
    again = load_classifier(str(clf.save(tmp_path / "v1", version="v1")), ["a", "b"])
    assert pooling_of(again.model) == "max"  # a saved version keeps its pooling
    x = clf.preprocess([_image(100, 0)])
    assert torch.allclose(clf.logits(x), again.logits(x), atol=1e-5)


def test_models_without_timm_pooling_are_left_alone():
    clf = load_classifier("tiny-vit", ["a", "b"], device="cpu")
    assert pooling_of(clf.model) is None and "pool" not in clf.version


def test_adabn_replaces_the_running_statistics_with_the_images(cnn):
    clf = load_classifier(str(cnn), ["a", "b"], device="cpu")
    first = batchnorm_layers(clf.model)[0]
    before = first.running_mean.clone()
    used = adapt_batchnorm(clf, [_image(200, i) for i in range(40)], AdaBN(min_images=8))
    assert used == 40 and not torch.allclose(before, first.running_mean)
    assert first.momentum == 0.1 and not clf.model.training
    assert adapt_batchnorm(clf, [_image(0, 1)] * 3, AdaBN(min_images=8)) == 0  # too few


def test_fine_tune_uses_the_unlabeled_pool_and_records_it(cnn):
    clf = load_classifier(str(cnn), ["dark", "bright"], device="cpu")
    train = [(_image(0, i), 0) for i in range(3)] + [(_image(180, 10 + i), 1) for i in range(3)]
    pool = [_image(0, 20 + i) for i in range(20)] + [_image(180, 50 + i) for i in range(20)]
    config = TrainConfig(epochs=1, min_steps=0, probe_steps=30, progress=False, self_training=True)
    result = fine_tune(clf, train, (), replace(config, adabn=True), unlabeled=pool)
    assert result.metrics["unlabeled_pool"] == 40 and result.metrics["adabn_images"] == 40
    assert result.metrics["self_training"]["used"] == 40
    off = load_classifier(str(cnn), ["dark", "bright"], device="cpu")
    quiet = TrainConfig(epochs=1, min_steps=0, probe_steps=30, progress=False, adabn=False)
    result = fine_tune(off, train, (), quiet, unlabeled=[])
    assert result.metrics["adabn_images"] == 0 and result.metrics["self_training"] == {}


def test_fine_tune_survives_a_failing_pool(cnn, monkeypatch):
    clf = load_classifier(str(cnn), ["dark", "bright"], device="cpu")
    train = [(_image(0, i), 0) for i in range(2)] + [(_image(180, 10 + i), 1) for i in range(2)]

    def broken(*_args, **_kwargs):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr("model_zoo.classifier.unlabeled.adapt_batchnorm", broken)
    monkeypatch.setattr("model_zoo.classifier.unlabeled.pool_features", broken)
    config = TrainConfig(
        epochs=1, min_steps=0, probe_steps=10, progress=False, adabn=True, self_training=True
    )
    result = fine_tune(clf, train, (), config, unlabeled=[_image(0, 99)] * 40)
    assert result.metrics["adabn_images"] == 0 and result.metrics["self_training"] == {}
    assert clf.head_trained


def test_test_time_flips_average_the_probabilities(cnn):
    clf = load_classifier(str(cnn), ["a", "b"], device="cpu")
    images = [_image(50, i) for i in range(3)]
    one, two = predict_proba_tta(clf, images, views=1), predict_proba_tta(clf, images, views=2)
    assert one.shape == two.shape == (3, 2) and np.allclose(two.sum(1), 1.0, atol=1e-5)
    flipped = clf.probabilities(clf.logits(clf.preprocess(images).flip(-1)))
    assert not np.allclose(one, flipped, atol=1e-6)  # the flip is a different view
    assert np.allclose(two, (one + flipped) / 2, atol=1e-6)


def test_fine_tune_takes_precomputed_pool_features_instead_of_images(cnn, monkeypatch):
    clf = load_classifier(str(cnn), ["dark", "bright"], device="cpu")
    train = [(_image(0, i), 0) for i in range(3)] + [(_image(180, 10 + i), 1) for i in range(3)]
    pool = [_image(0, 20 + i) for i in range(15)] + [_image(180, 50 + i) for i in range(15)]
    features = clf.embed(pool)

    def no_forward(*_args, **_kwargs):
        raise AssertionError("the pool must not be embedded again")

    monkeypatch.setattr("model_zoo.classifier.unlabeled.pool_features", no_forward)
    config = TrainConfig(epochs=1, min_steps=0, probe_steps=30, progress=False, self_training=True)
    result = fine_tune(clf, train, (), config, unlabeled_features=features)
    assert result.metrics["unlabeled_pool"] == 30
    assert result.metrics["self_training"]["used"] == 30
