"""The HTTP contract and bad input, through Flask's test client (no network)."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from ml_backend.server.app import create_app
from tests.images import data_url, png_bytes, random_image
from tests.ml_backend.conftest import make_settings


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    """A local server with a good image, a 20000x20000 PNG, a non-image, a 401 and a 404."""
    tmp = tmp_path_factory.mktemp("imgs")
    huge = tmp / "huge.png"
    Image.new("L", (20000, 20000)).save(huge, optimize=False)
    files = {
        "/ok.png": png_bytes(random_image(120, 90, seed=1)),
        "/huge.png": huge.read_bytes(),
        "/text.png": b"this is not an image",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/secret.png":
                self.send_response(401)
                self.end_headers()
                return
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(
        make_settings(tmp_path_factory.mktemp("app"), ALLOWED_IMAGE_HOSTS="127.0.0.1")
    )


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory, trained_tiny):
    settings = make_settings(
        tmp_path_factory.mktemp("app"),
        ALLOWED_IMAGE_HOSTS="127.0.0.1",
        CLASSIFIER_MODEL=trained_tiny,
    )
    return create_app(settings)


UNTRAINED = "no trained version yet: label 3 images of each of two classes for the first round"


def test_health(client):
    body = client.get("/health").get_json()
    assert body["status"] == "UP"
    assert body["model_version"].startswith(UNTRAINED)  # a fresh head serves nothing
    assert body["models"][0]["classes"][0] == "Crack"
    assert body["models"][0]["head_trained"] is False
    assert client.get("/").status_code == 200


def test_health_of_a_trained_model(trained_client):
    body = trained_client.get("/health").get_json()
    assert body["model_version"] == "tiny-vit-probe-trained"
    assert body["models"][0]["head_trained"] is True


def test_setup_returns_model_version(client, defects_xml):
    r = client.post(
        "/setup", json={"project": "3.1700000000", "schema": defects_xml, "extra_params": "{}"}
    )
    assert r.status_code == 200
    assert r.get_json()["model_version"].startswith(UNTRAINED)


def test_setup_of_a_trained_model(trained_client, defects_xml):
    r = trained_client.post("/setup", json={"project": "3.1", "schema": defects_xml})
    assert r.get_json() == {"model_version": "tiny-vit-probe-trained"}


def test_predict_before_any_training_makes_nothing_up(client, defects_xml):
    tasks = [{"id": i, "data": {"image": data_url(random_image(seed=i))}} for i in range(2)]
    body = client.post(
        "/predict", json={"tasks": tasks, "label_config": defects_xml, "project": "3.1"}
    ).get_json()
    assert body["results"] == [[], []] and body["errors"] == []
    assert body["note"].startswith(UNTRAINED) and body["model_version"] == body["note"]


def test_setup_refuses_unservable_config_with_what_it_needs(client):
    r = client.post(
        "/setup", json={"project": "3.1", "schema": '<View><Text name="t" value="$t"/></View>'}
    )
    assert r.status_code == 400
    assert "Image" in r.get_json()["error"] and "Choices" in r.get_json()["error"]


def test_predict_shapes(trained_client, defects_xml):
    tasks = [{"id": i, "data": {"image": data_url(random_image(seed=i))}} for i in range(3)]
    r = trained_client.post(
        "/predict",
        json={"tasks": tasks, "label_config": defects_xml, "project": "3.1", "params": {}},
    )
    assert r.status_code == 200
    body = r.get_json()
    assert len(body["results"]) == 3 and body["errors"] == []
    for prediction in body["results"]:
        assert prediction["model_version"] == "tiny-vit-probe-trained"
        (region,) = [r for r in prediction["result"] if r["type"] == "choices"]
        assert region["from_name"] == "defect" and region["to_name"] == "image"
        assert 0 <= region["score"] <= 1
        scores = [r["score"] for r in prediction["result"]]
        assert prediction["score"] == pytest.approx(sum(scores) / len(scores))


def test_one_bad_task_does_not_spoil_the_batch(trained_client, defects_xml, image_server):
    good = {"id": 1, "data": {"image": f"{image_server}/ok.png"}}
    bad = [
        {"id": 2, "data": {"image": f"{image_server}/missing.png"}},  # 404
        {"id": 3, "data": {"image": f"{image_server}/secret.png"}},  # 401
        {"id": 4, "data": {"image": f"{image_server}/text.png"}},  # not an image
        {"id": 5, "data": {"image": f"{image_server}/huge.png"}},  # 400 megapixels
        {"id": 6, "data": {"text": "no image key"}},
        {"id": 7, "data": {"image": "http://169.254.169.254/latest/meta-data"}},  # SSRF
        {"id": 8, "data": {"image": "data:image/png;base64," + base64.b64encode(b"junk").decode()}},
        {"id": 9, "data": {"image": 42}},
        {"id": 10},
        "not a task",
    ]
    tasks = [good] + bad + [good]
    r = trained_client.post("/predict", json={"tasks": tasks, "label_config": defects_xml})
    assert r.status_code == 200
    body = r.get_json()
    results = body["results"]
    assert len(results) == len(tasks)
    assert results[0]["result"] and results[-1]["result"]
    assert all(item == [] for item in results[1:-1])
    reasons = {e["task"]: e["error"] for e in body["errors"]}
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 8, 9, 10, None}
    assert "404" in reasons[2]
    assert "pixels" in reasons[5].lower()
    assert "image" in reasons[6]
    assert "ALLOWED_IMAGE_HOSTS" in reasons[7]
    # the server is still up and well
    assert trained_client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "payload, status, words",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"tasks": []}', 400, "nothing to predict"),
        (b'{"tasks": {"id": 1}}', 400, "list"),
        (b'{"tasks": [{"id": 1, "data": {"image": "x"}}]}', 400, "label config"),
        (
            b'{"tasks": [{"id": 1, "data": {"image": "x"}}], "label_config": "<View><Foo"}',
            400,
            "not valid XML",
        ),
    ],
)
def test_malformed_predict_requests(client, payload, status, words):
    r = client.post("/predict", data=payload, content_type="application/json")
    assert r.status_code == status
    assert words.lower() in r.get_json()["error"].lower()


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").get_json()["status"] == 404
    assert client.get("/predict").status_code == 405


def test_webhook_answers_every_event(client):
    r = client.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 4}})
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"
    r = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 4}})
    assert r.status_code == 200 and r.get_json()["project"] == "4"
    assert client.post("/webhook", json={"project": 4}).status_code == 400


def test_versions_without_training_lists_the_configured_model(trained_client, client):
    assert trained_client.get("/versions").get_json() == {
        "versions": ["tiny-vit-probe-trained"],
        "details": [],
    }
    body = client.get("/versions?project=5").get_json()
    assert body["versions"] == [] and body["details"] == []
    assert body["state"] == {
        "state": "untrained",
        "live_version": None,
        "message": UNTRAINED + " (0 of 6 labels)",
    }


def test_metrics_count_requests(client):
    client.get("/health")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'fm_inspect_requests_total{method="GET",route="/health",status="200"}' in text
    assert "fm_inspect_request_seconds_bucket" in text


def test_basic_auth(tmp_path):
    app = create_app(
        make_settings(tmp_path, BASIC_AUTH_USER="ls", BASIC_AUTH_PASS="s3cret"), preload=False
    )
    client = app.test_client()
    r = client.get("/health")
    assert r.status_code == 401 and "BASIC_AUTH_USER" in r.get_json()["error"]
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"ls:wrong").decode()
    assert client.get("/health", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"ls:s3cret").decode()
    assert client.get("/health", headers={"Authorization": f"Basic {right}"}).status_code == 200


def test_missing_model_is_reported_not_fatal(tmp_path, defects_xml):
    app = create_app(make_settings(tmp_path, CLASSIFIER_MODEL="vit-base"))
    client = app.test_client()
    health = client.get("/health").get_json()
    assert health["status"] == "UP" and any("vit-base" in e for e in health["errors"])
    r = client.post("/setup", json={"schema": defects_xml})
    assert r.status_code == 503 and "zoo/vit-base" in r.get_json()["error"]
