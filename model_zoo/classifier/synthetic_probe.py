"""A model the backend will serve, for benchmarks and tests: ``base`` with its head fitted on
synthetic images of every defect class and saved.

The backend never serves an untrained head (it pre-labels nothing until a project's first
round), so a benchmark of the /predict path, or a test of the predict pipeline, needs a model
with a trained head. This one is fitted the way a round's fast version is (the linear probe on
the frozen backbone, ``fine_tune`` with ``epochs=0``) on a few synthetic images per class, in
seconds. It costs what a real trained version costs to run; its predictions on real photos mean
nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from model_zoo.classifier.decision import decision_record
from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.training import TrainConfig, fine_tune
from model_zoo.data.dataset import DEFECT_CLASSES
from model_zoo.data.synth import render_sample


def save_synthetic_probe(
    base: str,
    out_dir: str | os.PathLike,
    *,
    per_class: int = 4,
    size: int = 128,
    model_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> Path:
    """Fit ``base``'s head on ``per_class`` synthetic images of each class and save it under
    ``out_dir/<base>-probe-trained``; returns that folder (a ``CLASSIFIER_MODEL`` value)."""
    classes = list(DEFECT_CLASSES)
    rng = np.random.default_rng(seed)
    train = [
        (Image.fromarray(render_sample(name, rng, size=size)[0]), index)
        for index, name in enumerate(classes)
        for _ in range(per_class)
    ]
    model = load_classifier(base, classes, device="cpu", model_dir=model_dir)
    fine_tune(model, train, (), TrainConfig(epochs=0, probe_steps=100, progress=False, seed=seed))
    name = f"{Path(base).name}-probe-trained"
    record = decision_record(classes, [per_class] * len(classes))
    return model.save(Path(out_dir) / name, version=name, decision=record)
