"""The fast version and the full one of a round, on tiny-vit and synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml_backend.training.classifier_round import RoundData, fast_version, full_version
from ml_backend.training.trainer import labels_missing
from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.training import TrainConfig
from model_zoo.data.synth import render_sample

CLASSES = ["crack", "rust", "no_defect"]


def data(per_class: int = 4, val_per_class: int = 1, labeled=(0, 2)) -> RoundData:
    rng = np.random.default_rng(0)

    def images(count):
        return [
            (Image.fromarray(render_sample(CLASSES[c], rng, size=48)[0]), c)
            for c in labeled
            for _ in range(count)
        ]

    return RoundData(images(per_class), images(val_per_class), CLASSES, False)


def make():
    return load_classifier("tiny-vit", CLASSES, device="cpu")


def test_the_fast_version_is_trained_scored_and_records_what_it_learned():
    round_data = data()
    fast = fast_version(make, round_data, None)
    assert fast.stage == "fast" and fast.classifier.head_trained
    assert fast.metrics["val_size"] == 2 and 0.0 <= fast.metrics["accuracy"] <= 1.0
    assert fast.decision["learned_classes"] == ["crack", "no_defect"]  # nobody labeled rust
    assert fast.meta()["decision"] == fast.decision and fast.meta()["stage"] == "fast"


def test_the_full_version_serves_only_when_it_beats_the_fast_head():
    round_data = data()
    fast = fast_version(make, round_data, None)
    config = TrainConfig(epochs=1, min_steps=1, progress=False)
    unbeatable = type(fast)(**{**fast.__dict__, "metrics": {"macro_f1": 2.0, "accuracy": 1.0}})
    full, why = full_version(make, round_data, config, unbeatable)
    assert full is None and "did not beat the fast head" in why
    beatable = type(fast)(**{**fast.__dict__, "metrics": {"macro_f1": -1.0, "accuracy": 0.0}})
    full, why = full_version(make, round_data, config, beatable)
    if full is None:  # the probe's own epoch won: that is the fast head on fewer images
        assert "best epoch 0" in why
    else:
        assert full.stage == "full" and "beats the fast head" in full.note


@pytest.mark.parametrize(
    "counts, minimum, expected",
    [
        ({"Crack": 3, "No defect": 3}, 3, None),
        ({"Crack": 5, "Rust": 1, "No defect": 3}, 3, None),
        ({"Crack": 4, "No defect": 2}, 3, "6 of 7 labels for the first round"),
        ({"Crack": 8}, 3, "8 of 11 labels"),
        ({}, 3, "0 of 6 labels"),
    ],
)
def test_what_a_first_round_still_needs_is_counted(counts, minimum, expected):
    message = labels_missing(counts, minimum)
    if expected is None:
        assert message is None
    else:
        assert message.startswith(expected) and f"needs {minimum} labeled images" in message
