"""Fixtures shared by the model_zoo tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def timm_cnn(tmp_path_factory):
    """A small timm CNN (BatchNorm, random weights) saved like a hub repo: a pretrained-kind
    source, so a fine-tune probes it and uses an unlabeled pool (a ``tiny-*`` entry does not)."""
    import timm
    from timm.models import save_for_hf

    folder = tmp_path_factory.mktemp("cnn") / "resnet"
    save_for_hf(timm.create_model("resnet10t", num_classes=3), folder, safe_serialization=True)
    return folder
