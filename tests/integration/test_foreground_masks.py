"""Foreground/Background masks end to end: a real Label Studio stores our CLIPSeg pre-labels.

A project with ``label_config/foreground.xml`` (and one with the combined ``inspection.xml``)
gets uploaded and local-file images of odd sizes and modes; the backend (gunicorn, tiny random
CLIPSeg) is connected and "Retrieve Predictions" runs. The stored brush regions must decode
(SDK RLE) to masks of each image's original size, Foreground and Background must partition the
image, and every label must be one of the config's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from label_studio_sdk.label_interface import LabelInterface
from PIL import Image

from ml_backend.controls.brush import decode_mask
from ml_backend.labelstudio.project import (
    client_for,
    connect_backend,
    create_project,
    import_tasks,
    predictions,
    retrieve_predictions,
    upload_images,
)
from tests.images import random_image
from tests.integration.backends import start_backend

REPO = Path(__file__).resolve().parents[2]
FOREGROUND_XML = (REPO / "label_config" / "foreground.xml").read_text()
INSPECTION_XML = (REPO / "label_config" / "inspection.xml").read_text()

SIZES = {"wide.png": (173, 61), "tall-gray.png": (48, 211), "rgba.png": (90, 90)}


@pytest.fixture(scope="module")
def images(tmp_path_factory, local_files_root):
    uploads = tmp_path_factory.mktemp("fg-uploads")
    paths = []
    for i, (name, size) in enumerate(SIZES.items()):
        mode = "L" if "gray" in name else "RGBA" if "rgba" in name else "RGB"
        path = uploads / name
        random_image(*size, seed=20 + i, mode=mode).save(path)
        paths.append(path)
    local = local_files_root / "foreground"
    local.mkdir(exist_ok=True)
    wide16 = (np.arange(97 * 143).reshape(97, 143) * 4).astype(np.uint16)
    Image.fromarray(wide16).save(local / "pier-16bit.png")
    return paths, local


@pytest.fixture(scope="module")
def server(tmp_path_factory, isolated_env, label_studio, legacy_token, trained_lite0):
    """CLIPSeg (zero-shot: serves from the start) beside a trained defect classifier."""
    srv = start_backend(
        tmp_path_factory,
        isolated_env,
        label_studio,
        legacy_token,
        CLIPSEG_MODEL="tiny-clipseg",
        CLASSIFIER_MODEL=trained_lite0,
    )
    yield srv
    srv.stop()


def _project(label_studio, token, server, images, xml, title):
    client = client_for(label_studio.url, token)
    project_id = create_project(client, title, xml)
    paths, local = images
    uploaded = upload_images(label_studio.url, label_studio.auth_headers(), project_id, paths)
    label_studio.add_local_storage(project_id, local, regex_filter=r".*\.png", sync=False)
    local_ids = import_tasks(
        client,
        project_id,
        [
            {"data": {"image": f"/data/local-files/?d=foreground/{p.name}"}}
            for p in local.glob("*.png")
        ],
    )
    connect_backend(client, project_id, server.url)
    retrieve_predictions(client, project_id)
    sizes = {}
    for task_id, path in zip(uploaded, paths, strict=True):
        sizes[task_id] = SIZES[path.name]
    for task_id in local_ids:
        sizes[task_id] = (143, 97)
    return {
        "client": client,
        "id": project_id,
        "sizes": sizes,
        "stored": predictions(client, project_id),
    }


def _check_masks(project, server, control_name, xml):
    interface = LabelInterface(xml)
    labels = set(interface.get_control(control_name).labels)
    stored = {p["task"]: p for p in project["stored"]}
    assert set(project["sizes"]) <= set(stored), server.log_text()[-3000:]
    for task_id, (width, height) in project["sizes"].items():
        prediction = stored[task_id]
        assert "tiny-clipseg-random-seed0:E3" in prediction["model_version"]
        ours = [r for r in prediction["result"] if r["from_name"] == control_name]
        masks = {}
        for region in ours:
            assert region["type"] == "brushlabels" and region["to_name"] == "image"
            assert (region["original_width"], region["original_height"]) == (width, height)
            (label,) = region["value"]["brushlabels"]
            assert label in labels
            masks[label] = decode_mask(region["value"]["rle"], height, width)
            assert 0.0 <= region["score"] <= 1.0
        assert {"Foreground", "Background"} & set(masks), ours
        empty = np.zeros((height, width), bool)
        fg, bg = masks.get("Foreground", empty), masks.get("Background", empty)
        assert not (fg & bg).any() and (fg | bg).all()
        assert interface.validate_prediction({"result": prediction["result"]})


def test_foreground_config(label_studio, legacy_token, server, images):
    project = _project(label_studio, legacy_token, server, images, FOREGROUND_XML, "foreground")
    _check_masks(project, server, "foreground", FOREGROUND_XML)


def test_combined_inspection_config(label_studio, legacy_token, server, images):
    project = _project(label_studio, legacy_token, server, images, INSPECTION_XML, "inspection")
    _check_masks(project, server, "surface", INSPECTION_XML)
    stored = {p["task"]: p for p in project["stored"]}
    for task_id in project["sizes"]:
        names = {r["from_name"] for r in stored[task_id]["result"]}
        assert "defect" in names  # the classifier's choices come along in the same prediction
