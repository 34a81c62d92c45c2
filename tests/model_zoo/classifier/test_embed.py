"""``ImageClassifier.embed`` gives exactly the classification head's input; MC dropout on it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from model_zoo.acquisition.bald import dropout_rate, mc_dropout_probabilities
from model_zoo.classifier.model import load_classifier


def test_embed_is_the_head_input_and_mc_dropout_varies():
    classifier = load_classifier("tiny-vit", ["a", "b", "c"], device="cpu")
    images = [Image.new("RGB", (80, 60), (i * 40, 255 - i * 30, 90)) for i in range(5)]
    features = classifier.embed(images, batch_size=2)
    assert features.shape[0] == 5 and features.ndim == 2
    direct = classifier.logits(classifier.preprocess(images))
    assert torch.allclose(classifier.head_logits(torch.as_tensor(features)), direct, atol=1e-5)
    rate = dropout_rate(classifier.model.config)
    assert 0 < rate < 1
    mc = mc_dropout_probabilities(classifier.head_logits, features, samples=6, rate=rate, seed=1)
    assert mc.shape == (6, 5, 3)
    assert np.allclose(mc.sum(-1), 1.0, atol=1e-5)
    assert mc.std(axis=0).max() > 1e-4, "dropout makes the passes differ"
