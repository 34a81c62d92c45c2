"""Shared test set-up: no network, no writes into the home directory."""

from __future__ import annotations

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="fm-inspect-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_tmp, "mpl"))
os.environ.setdefault("HF_HOME", os.path.join(_tmp, "hf"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

#: the eight classes of the synthetic set (and of label_config/defects.xml)
SYNTH_CLASSES = [
    "crack", "net_crack", "spalling", "exposed_rebar", "rust", "efflorescence", "algae",
    "no_defect",
]  # fmt: skip


def probe_trained(tmp_path_factory, base: str, per_class: int, size: int) -> str:
    """``base`` with its head fitted (the rounds' fast path: a linear probe) on ``per_class``
    synthetic images of each of the eight classes, saved: a model the backend serves."""
    import numpy as np
    from PIL import Image

    from model_zoo.classifier.decision import decision_record
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, fine_tune
    from model_zoo.data.synth import render_sample

    rng = np.random.default_rng(0)
    train = [
        (Image.fromarray(render_sample(name, rng, size=size)[0]), index)
        for index, name in enumerate(SYNTH_CLASSES)
        for _ in range(per_class)
    ]
    model = load_classifier(
        base, SYNTH_CLASSES, device="cpu", model_dir=tmp_path_factory.getbasetemp() / "zoo-cache"
    )
    fine_tune(model, train, (), TrainConfig(epochs=0, probe_steps=100, progress=False))
    record = decision_record(SYNTH_CLASSES, [per_class] * len(SYNTH_CLASSES))
    name = f"{base}-probe-trained"
    out = tmp_path_factory.mktemp("trained") / name
    return str(model.save(out, version=name, decision=record))


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory) -> str:
    """A saved tiny-vit whose head was trained on 2 synthetic images per class (a second)."""
    return probe_trained(tmp_path_factory, "tiny-vit", per_class=2, size=48)


@pytest.fixture(scope="session")
def trained_lite0(tmp_path_factory) -> str:
    """The default efficientnet-lite0 with its head trained on 4 synthetic images per class."""
    return probe_trained(tmp_path_factory, "efficientnet-lite0", per_class=4, size=128)
