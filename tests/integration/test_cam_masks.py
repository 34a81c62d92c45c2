"""Brush pre-labels from class-activation maps, end to end with a real Label Studio 1.23.2.

The backend serves label_config/defects.xml with a classifier whose head calls every image
"crack" (so the right label is known); Label Studio's "Retrieve Predictions" stores what it
returns, and the stored brush results must decode (SDK RLE) to masks of each image's original
size, carry the "Crack" brush label, and sit next to the Choices result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from label_studio_sdk.label_interface import LabelInterface

from ml_backend.controls.brush import decode_mask
from ml_backend.labelstudio.project import (
    client_for,
    connect_backend,
    create_project,
    predictions,
    retrieve_predictions,
    upload_images,
)
from tests.images import random_image
from tests.integration.backends import start_backend

REPO = Path(__file__).resolve().parents[2]
DEFECTS_XML = (REPO / "label_config" / "defects.xml").read_text()
SIZES = [(230, 170), (96, 140)]


@pytest.fixture(scope="module")
def crack_model(tmp_path_factory):
    from model_zoo.classifier.model import load_classifier

    labels = LabelInterface(DEFECTS_XML).get_control("defect").labels
    model = load_classifier("tiny-vit", labels, device="cpu", multi_label=True)
    bias = torch.full((len(labels),), -6.0)
    bias[labels.index("Crack")] = 6.0
    with torch.no_grad():
        model.model.classifier.bias.copy_(bias)
    return model.save(tmp_path_factory.mktemp("models") / "crack-only", version="crack-only-1")


@pytest.fixture(scope="module")
def stored(tmp_path_factory, isolated_env, label_studio, legacy_token, crack_model):
    backend = start_backend(
        tmp_path_factory,
        isolated_env,
        label_studio,
        legacy_token,
        CLASSIFIER_MODEL=str(crack_model),
        CAM_METHOD="gradcam++",
        CAM_MIN_AREA="16",
        THREADS="2",
    )
    try:
        uploads = tmp_path_factory.mktemp("cam-uploads")
        paths = []
        for i, (w, h) in enumerate(SIZES):
            paths.append(uploads / f"deck-{i}.png")
            random_image(w, h, seed=20 + i).save(paths[-1])
        client = client_for(label_studio.url, legacy_token)
        project_id = create_project(client, "cam masks", DEFECTS_XML)
        task_ids = upload_images(label_studio.url, label_studio.auth_headers(), project_id, paths)
        connect_backend(client, project_id, backend.url)
        retrieve_predictions(client, project_id)
        yield {
            "sizes": dict(zip(task_ids, SIZES, strict=True)),
            "predictions": predictions(client, project_id),
            "log": backend.log_text(),
        }
    finally:
        backend.stop()


def test_brush_prelabels_are_stored_at_original_size_with_the_right_label(stored):
    by_task = {p["task"]: p for p in stored["predictions"]}
    assert set(stored["sizes"]) <= set(by_task), stored["log"][-3000:]
    interface = LabelInterface(DEFECTS_XML)
    for task_id, (width, height) in stored["sizes"].items():
        result = by_task[task_id]["result"]
        choices = [r for r in result if r["type"] == "choices"]
        brushes = [r for r in result if r["type"] == "brushlabels"]
        assert choices and "Crack" in choices[0]["value"]["choices"]
        assert brushes, f"no brush regions for task {task_id}"
        union = np.zeros((height, width), dtype=bool)
        for region in brushes:
            assert region["from_name"] == "defect_mask" and region["to_name"] == "image"
            assert region["value"]["brushlabels"] == ["Crack"]
            assert (region["original_width"], region["original_height"]) == (width, height)
            mask = decode_mask(region["value"]["rle"], height, width)
            assert mask.shape == (height, width) and mask.any()
            assert not (mask & union).any()
            union |= mask
            assert 0.0 < region["score"] <= 1.0
        assert union.sum() < width * height  # a proposal, not the whole image
        assert interface.validate_prediction({"result": result})
