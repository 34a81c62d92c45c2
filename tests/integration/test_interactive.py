"""Interactive pre-annotation end to end: Label Studio forwards a smart-tool click to us.

A project with ``label_config/interactive.xml`` gets an uploaded image with a dark crack; the
backend (gunicorn, the offline fallback source) is connected with "Interactive preannotations"
on; Label Studio's interactive-annotating endpoint is called with a keypoint context, as the
editor does on ``regionFinishedDrawing``, and must return our brush mask of the crack.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from skimage.draw import line

from ml_backend.controls.brush import decode_mask
from ml_backend.labelstudio.project import (
    client_for,
    connect_backend,
    create_project,
    upload_images,
)
from tests.integration.backends import start_backend

REPO = Path(__file__).resolve().parents[2]
INTERACTIVE_XML = (REPO / "label_config" / "interactive.xml").read_text()
W, H = 300, 220


@pytest.fixture(scope="module")
def crack(tmp_path_factory):
    rng = np.random.default_rng(3)
    rgb = np.clip(150 + rng.normal(0, 6, (H, W, 3)), 0, 255)
    truth = np.zeros((H, W), dtype=bool)
    rr, cc = line(30, 20, 200, 280)
    truth[rr, cc] = truth[rr, np.minimum(cc + 1, W - 1)] = True
    rgb[truth] = 70
    path = tmp_path_factory.mktemp("interactive") / "crack.png"
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path, truth


@pytest.fixture(scope="module")
def server(tmp_path_factory, isolated_env, label_studio, legacy_token):
    srv = start_backend(
        tmp_path_factory, isolated_env, label_studio, legacy_token, INTERACTIVE_SOURCE="fallback"
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def project(label_studio, legacy_token, server, crack):
    client = client_for(label_studio.url, legacy_token)
    project_id = create_project(client, "interactive", INTERACTIVE_XML)
    (task_id,) = upload_images(
        label_studio.url, label_studio.auth_headers(), project_id, [crack[0]]
    )
    backend_id = connect_backend(client, project_id, server.url, interactive=True)
    return {"task": task_id, "backend": backend_id}


def _click(x_px, y_px, label="Crack", positive=True):
    return {
        "id": "k1",
        "type": "keypointlabels",
        "from_name": "click",
        "to_name": "image",
        "origin": "manual",
        "original_width": W,
        "original_height": H,
        "image_rotation": 0,
        "is_positive": positive,
        "value": {
            "x": 100 * x_px / W,
            "y": 100 * y_px / H,
            "width": 0.6,
            "keypointlabels": [label],
        },
    }


def _interactive(label_studio, project, regions) -> dict:
    response = requests.post(
        f"{label_studio.url}/api/ml/{project['backend']}/interactive-annotating",
        headers=label_studio.auth_headers(),
        json={"task": project["task"], "context": {"result": regions}},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_click_through_label_studio_returns_the_crack_mask(label_studio, project, crack, server):
    _, truth = crack
    x = 20 + (110 - 30) * 260 / 170  # on the crack at row 110
    answer = _interactive(label_studio, project, [_click(x, 110)])
    assert "errors" not in answer, (answer, server.log_text()[-3000:])
    (region,) = answer["data"]["result"]
    assert region["type"] == "brushlabels" and region["from_name"] == "defect_mask"
    assert region["value"]["brushlabels"] == ["Crack"]
    assert (region["original_width"], region["original_height"]) == (W, H)
    mask = decode_mask(region["value"]["rle"], H, W)
    assert mask[truth].mean() > 0.8
    assert mask.sum() < 6 * truth.sum()
    assert answer["data"]["model_version"].startswith("interactive-")


def test_an_unknown_label_comes_back_as_an_error_through_label_studio(label_studio, project):
    answer = _interactive(label_studio, project, [_click(50, 50, label="Graffiti")])
    assert "data" not in answer
    assert any("Graffiti" in e and "not a label" in e for e in answer["errors"]), answer
