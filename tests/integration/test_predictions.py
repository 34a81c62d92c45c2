"""Pre-labels end to end: a real Label Studio 1.23.2 asks our backend (gunicorn) for predictions.

For each token kind (legacy token, personal access token) the backend downloads the task images
from Label Studio itself: uploaded files (``/data/upload/...``) and local files
(``/data/local-files/?d=...``). Label Studio's "Retrieve Predictions" action calls /predict and
stores what we return; the test reads the stored predictions back through the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from label_studio_sdk.label_interface import LabelInterface

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
DEFECTS_XML = (REPO / "label_config" / "defects.xml").read_text()
DEFECT_CHOICES = set(LabelInterface(DEFECTS_XML).get_control("defect").labels)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory, local_files_root):
    """Three PNGs to upload and three under the local-files root (one folder per module run)."""
    uploads = tmp_path_factory.mktemp("uploads")
    upload_paths = []
    for i in range(3):
        path = uploads / f"wall-{i}.png"
        random_image(160 + 10 * i, 120, seed=i).save(path)
        upload_paths.append(path)
    local = local_files_root / "predictions"
    local.mkdir(exist_ok=True)
    for i in range(3):
        random_image(140, 100 + 10 * i, seed=10 + i).save(local / f"pier-{i}.png")
    return upload_paths, local


@pytest.fixture(scope="module", params=["legacy_token", "personal_access_token"])
def token_kind(request):
    return request.param


@pytest.fixture(scope="module")
def backend(
    token_kind,
    tmp_path_factory,
    isolated_env,
    label_studio,
    legacy_token,
    personal_access_token,
    trained_lite0,
):
    """The backend serving the default efficientnet-lite0 with a trained head (an untrained
    one pre-labels nothing: tests/integration/test_first_hour.py)."""
    token = legacy_token if token_kind == "legacy_token" else personal_access_token
    server = start_backend(
        tmp_path_factory, isolated_env, label_studio, token, CLASSIFIER_MODEL=trained_lite0
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def project(backend, token_kind, label_studio, legacy_token, personal_access_token, image_files):
    """A project with uploaded and local-file tasks, the backend connected, predictions retrieved."""
    token = legacy_token if token_kind == "legacy_token" else personal_access_token
    client = client_for(label_studio.url, token)
    project_id = create_project(client, f"predictions ({token_kind})", DEFECTS_XML)
    upload_paths, local = image_files
    uploaded = upload_images(
        label_studio.url, label_studio.auth_headers(), project_id, upload_paths
    )
    label_studio.add_local_storage(project_id, local, regex_filter=r".*\.png", sync=False)
    local_tasks = import_tasks(
        client,
        project_id,
        [
            {"data": {"image": f"/data/local-files/?d=predictions/{p.name}"}}
            for p in sorted(local.glob("*.png"))
        ],
    )
    broken = import_tasks(
        client, project_id, [{"data": {"image": f"/data/upload/{project_id}/no-such-file.png"}}]
    )
    connect_backend(client, project_id, backend.url)
    retrieve_predictions(client, project_id)
    return {
        "client": client,
        "id": project_id,
        "uploaded": uploaded,
        "local": local_tasks,
        "broken": broken,
        "stored": predictions(client, project_id),
    }


def test_every_good_task_gets_a_valid_prediction(project, backend):
    stored = {p["task"]: p for p in project["stored"]}
    good = project["uploaded"] + project["local"]
    assert set(good) <= set(stored), backend.log_text()[-3000:]
    health = requests.get(f"{backend.url}/health", timeout=5).json()
    interface = LabelInterface(DEFECTS_XML)
    for task_id in good:
        prediction = stored[task_id]
        assert prediction["model_version"] == health["model_version"]
        assert prediction["score"] is not None and 0.0 <= prediction["score"] <= 1.0
        # defect masks (<BrushLabels>, CAM handler) come alongside; this test is about choices
        (region,) = [r for r in prediction["result"] if r["type"] == "choices"]
        assert region["from_name"] == "defect" and region["to_name"] == "image"
        assert region["type"] == "choices"
        assert set(region["value"]["choices"]) <= DEFECT_CHOICES and region["value"]["choices"]
        assert interface.validate_prediction({"result": prediction["result"]})


def test_a_broken_image_fails_only_its_own_task(project, backend):
    stored_tasks = {p["task"] for p in project["stored"]}
    assert not set(project["broken"]) & stored_tasks
    log = backend.log_text()
    # Label Studio 1.23.2 answers a missing upload with HTTP 500; the reason names the file
    assert "no-such-file.png" in log and "gets no prediction" in log
    assert requests.get(f"{backend.url}/health", timeout=5).status_code == 200


def test_setup_version_is_what_label_studio_stored(project, backend):
    (ml,) = project["client"].ml.list(project=project["id"])
    health = requests.get(f"{backend.url}/health", timeout=5).json()
    assert ml.model_version == health["model_version"]
    assert ml.state in {"CO", "PR"}


def test_wrong_token_is_reported_and_server_stays_up(
    tmp_path_factory, isolated_env, label_studio, legacy_token, image_files, trained_lite0
):
    """With a refused token, uploaded images cannot be read: a clear reason, no crash."""
    backend = start_backend(
        tmp_path_factory,
        isolated_env,
        label_studio,
        "not-a-valid-token",
        CLASSIFIER_MODEL=trained_lite0,
    )
    try:
        client = client_for(label_studio.url, legacy_token)
        project_id = create_project(client, "wrong token", DEFECTS_XML)
        task_ids = upload_images(
            label_studio.url, label_studio.auth_headers(), project_id, image_files[0][:1]
        )
        connect_backend(client, project_id, backend.url)
        retrieve_predictions(client, project_id)
        assert predictions(client, project_id) == []
        assert task_ids
        log = backend.log_text()
        assert "LABEL_STUDIO_API_KEY" in log, log[-3000:]
        assert requests.get(f"{backend.url}/health", timeout=5).status_code == 200
    finally:
        backend.stop()


def test_basic_auth_between_label_studio_and_backend(
    tmp_path_factory, isolated_env, label_studio, legacy_token, image_files, trained_lite0
):
    backend = start_backend(
        tmp_path_factory,
        isolated_env,
        label_studio,
        legacy_token,
        CLASSIFIER_MODEL=trained_lite0,
        BASIC_AUTH_USER="ls",
        BASIC_AUTH_PASS="pw-123",
    )
    try:
        client = client_for(label_studio.url, legacy_token)
        project_id = create_project(client, "basic auth", DEFECTS_XML)
        upload_images(label_studio.url, label_studio.auth_headers(), project_id, image_files[0][:1])
        with pytest.raises(Exception) as refused:  # Label Studio validates /health and /setup first
            connect_backend(client, project_id, backend.url, basic_auth=("ls", "wrong"))
        assert "400" in str(refused.value) or "401" in str(refused.value)
        connect_backend(client, project_id, backend.url, basic_auth=("ls", "pw-123"))
        retrieve_predictions(client, project_id)
        assert len(predictions(client, project_id)) == 1
    finally:
        backend.stop()


def test_label_studio_refuses_a_config_we_cannot_serve(backend, label_studio, legacy_token):
    client = client_for(label_studio.url, legacy_token)
    project_id = create_project(
        client,
        "text project",
        '<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="a"/></Choices></View>',
    )
    with pytest.raises(Exception) as refused:
        connect_backend(client, project_id, backend.url)
    assert "Image" in str(refused.value)
