"""The bad-input corpus: every kind of bad request we know of, one case each.

Each case asserts its status and message, that no unintended 5xx comes back, that the server
still answers ``/health`` afterwards, and (for bad tasks) that the other tasks of the batch
still get predictions. Basic auth is on, with a non-ASCII password, so every case also goes
through it. Kinds that passed before the hardening are kept so that they keep passing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import weakref
from dataclasses import dataclass, field

import pytest

from ml_backend.server.app import create_app
from tests.images import data_url, png_bytes, random_image
from tests.ml_backend.conftest import DEFECTS_XML, make_settings

USER, PASSWORD = "ls", "pässwörd"  # non-ASCII: compared as UTF-8 and Latin-1 bytes
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def config(attrs: str = "") -> str:
    return (
        '<View><Image name="image" value="$image"/>'
        f'<Choices name="defect" toName="image" {attrs}>'
        '<Choice value="Crack"/><Choice value="Rust"/></Choices></View>'
    )


def good(task_id: int) -> dict:
    return {"id": task_id, "data": {"image": data_url(random_image(seed=task_id))}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A MODEL_DIR, a local-files root (an image, a symlink out, a FIFO) and places outside."""
    tmp = tmp_path_factory.mktemp("bad-input")
    outside = tmp / "outside"
    (outside / "model").mkdir(parents=True)
    (outside / "model" / "config.json").write_text("{}")
    (outside / "secret.png").write_bytes(png_bytes(random_image(seed=9)))
    models = tmp / "models"
    (models / "not-a-model").mkdir(parents=True)
    (models / "not-a-model" / "config.json").write_text("{ junk")
    (models / "link").symlink_to(outside / "model")
    files = tmp / "files"
    files.mkdir()
    (files / "ok.png").write_bytes(png_bytes(random_image(seed=3)))
    (files / "link.png").symlink_to(outside / "secret.png")
    os.mkfifo(files / "pipe.png")
    return {"tmp": tmp, "models": models, "outside": outside, "files": files}


@pytest.fixture(scope="module")
def app(env, trained_tiny):
    settings = make_settings(
        env["tmp"],
        CLASSIFIER_MODEL=trained_tiny,
        BASIC_AUTH_USER=USER,
        BASIC_AUTH_PASS=PASSWORD,
        LOCAL_FILES_DOCUMENT_ROOT=str(env["files"]),
        ALLOWED_HUB_MODELS="allowed-org/.*",
        ALLOWED_MODEL_DIRS="",
        IMAGE_TIMEOUT="5",
    )
    return create_app(settings)


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = AUTH["Authorization"]
    return client


@dataclass
class Case:
    method: str
    path: str
    body: object = None  # bytes, a dict (sent as JSON) or a function of the env giving one
    status: int = 400
    words: str = ""
    headers: dict = field(default_factory=dict)


def _deep(levels: int) -> bytes:
    return b'{"tasks": ' + b"[" * levels + b"]" * levels + b"}"


def _predict(config_xml: str = DEFECTS_XML, **extra) -> dict:
    return {"tasks": [good(1)], "label_config": config_xml, **extra}


def _model(name) -> object:
    return lambda env: _predict(config(f'model_name="{name(env) if callable(name) else name}"'))


def _basic(raw: bytes) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


CASES = {
    # the body
    "malformed-json": Case("POST", "/predict", b"{not json", 400, "not valid JSON"),
    "empty-body": Case("POST", "/predict", b"", 400, "empty"),
    "json-array": Case("POST", "/predict", b"[1, 2]", 400, "JSON object"),
    "nested-5000-deep": Case("POST", "/predict", _deep(5000), 400, "nested deeper"),
    "nested-100-deep": Case("POST", "/setup", _deep(100), 400, "nested deeper"),
    "int-4300-digits": Case(
        "POST", "/predict", b'{"tasks": [], "n": ' + b"9" * 4300 + b"}", 400, "digits"
    ),
    "int-5000-digits-webhook": Case(
        "POST", "/webhook", b'{"action": "X", "project": ' + b"1" * 5000 + b"}", 400, "digits"
    ),
    "body-over-64-mib": Case("POST", "/predict", b" " * (65 * 1024 * 1024), 413, "64 MiB"),
    "tasks-not-a-list": Case("POST", "/predict", {"tasks": {"id": 1}}, 400, "list"),
    "tasks-empty": Case("POST", "/predict", {"tasks": []}, 400, "nothing to predict"),
    "label-config-not-a-string": Case(
        "POST", "/predict", {"tasks": [good(1)], "label_config": 5}, 400, "must be a string"
    ),
    "label-config-missing": Case("POST", "/predict", {"tasks": [good(1)]}, 400, "label config"),
    "label-config-bad-xml": Case("POST", "/setup", {"schema": "<View><Foo"}, 400, "not valid XML"),
    "label-config-unservable": Case(
        "POST", "/setup", {"schema": '<View><Text name="t" value="$t"/></View>'}, 400, "Image"
    ),
    # project ids: never reach the model store or the scheduler
    "project-slash-predict": Case("POST", "/predict", _predict(project="a/b"), 400, "'project'"),
    "project-list-setup": Case(
        "POST", "/setup", {"project": [1], "schema": DEFECTS_XML}, 400, "'project'"
    ),
    "project-dict-traversal-setup": Case(
        "POST", "/setup", {"project": {"id": "../x"}, "schema": DEFECTS_XML}, 400, "'project'"
    ),
    "project-bool": Case("POST", "/predict", _predict(project=True), 400, "'project'"),
    "project-negative": Case("POST", "/predict", _predict(project=-3), 400, "'project'"),
    "project-huge-number": Case("POST", "/predict", _predict(project="9" * 60), 400, "'project'"),
    "versions-query-slash": Case("GET", "/versions?project=a/b", None, 400, "'project'"),
    "versions-query-traversal": Case(
        "GET", "/versions?project=..%2F..%2Fetc", None, 400, "'project'"
    ),
    "versions-live-traversal": Case(
        "POST", "/versions/live", {"project": "../../etc", "version": "v1"}, 400, "'project'"
    ),
    "versions-live-bad-version": Case(
        "POST", "/versions/live", {"project": 3, "version": "../v1"}, 400, "version"
    ),
    "versions-live-unknown-version": Case(
        "POST", "/versions/live", {"project": 3, "version": "p3-v9"}, 404, "no version"
    ),
    "webhook-project-slash": Case(
        "POST", "/webhook", {"action": "START_TRAINING", "project": {"id": "a/b"}}, 400, "project"
    ),
    "webhook-project-list": Case(
        "POST", "/webhook", {"action": "ANNOTATION_CREATED", "project": [3]}, 400, "project"
    ),
    "webhook-no-action": Case("POST", "/webhook", {"project": 4}, 400, "action"),
    "webhook-action-not-text": Case("POST", "/webhook", {"action": ["x"]}, 400, "action"),
    "webhook-other-event": Case(
        "POST", "/webhook", {"action": "PROJECT_UPDATED", "project": {"id": 4}}, 200, "ignored"
    ),
    "jobs-project-slash": Case("POST", "/jobs/prelabel", {"project": "a/b"}, 400, "'project'"),
    "jobs-mode-a-list": Case("POST", "/jobs/prelabel", {"project": 3, "mode": ["x"]}, 400, "mode"),
    "jobs-unknown-id": Case("GET", "/jobs/nope", None, 404, "no job"),
    "unknown-route": Case("GET", "/nope", None, 404, "not found"),
    "wrong-method": Case("GET", "/predict", None, 405, "method"),
    "traversal-route": Case("GET", "/jobs/..%2F..%2Fetc", None, 404, ""),
    # what a label config may load (no path oracle: see test_refusals_do_not_probe_paths)
    "model-absolute-path": Case("POST", "/predict", _model("/etc"), 400, "not allowed"),
    "model-traversal": Case("POST", "/setup", {"schema": config('model_name="../../../../etc"')}),
    "model-symlink-out-of-model-dir": Case(
        "POST", "/predict", _model(lambda env: env["models"] / "link"), 400, "not allowed"
    ),
    "model-outside-model-dir": Case(
        "POST", "/predict", _model(lambda env: env["outside"] / "model"), 400, "not allowed"
    ),
    "model-hub-id-not-allowed": Case("POST", "/predict", _model("evil/model"), 400, "not allowed"),
    "model-hub-id-allowed-offline": Case(
        "POST", "/predict", _model("allowed-org/model"), 503, "cannot load model"
    ),
    "model-not-a-model-in-model-dir": Case(
        "POST",
        "/predict",
        _model(lambda env: env["models"] / "not-a-model"),
        503,
        "cannot load model",
    ),
    "model-built-on-first-use": Case(
        "POST", "/setup", {"schema": config('model_name="fm-concrete-small"')}, 503, "--default"
    ),
    "model-zoo-without-weights": Case(
        "POST", "/setup", {"schema": config('model_name="vit-base"')}, 503, "zoo/vit-base"
    ),
    # basic auth
    "auth-missing": Case("GET", "/health", None, 401, "basic auth", {"Authorization": ""}),
    "auth-wrong-password": Case("GET", "/health", None, 401, "basic auth", _basic(b"ls:nope")),
    "auth-token-without-colon": Case(
        "GET", "/health", None, 401, "basic auth", _basic(b"just-a-secret-token")
    ),
    "auth-not-base64": Case(
        "GET", "/health", None, 401, "basic auth", {"Authorization": "Basic %%%"}
    ),
    "auth-bearer": Case("GET", "/health", None, 401, "basic auth", {"Authorization": "Bearer x"}),
    "auth-non-utf8-bytes": Case(
        "GET", "/health", None, 401, "basic auth", _basic(b"\xff\xfe:\xc3\x28")
    ),
    "auth-non-ascii-user-wrong": Case(
        "GET", "/health", None, 401, "basic auth", _basic("lś:pässwörd".encode())
    ),
    "auth-right-utf8": Case(
        "GET", "/health", None, 200, "UP", _basic(f"{USER}:{PASSWORD}".encode())
    ),
    "auth-right-latin1": Case(
        "GET", "/health", None, 200, "UP", _basic(f"{USER}:{PASSWORD}".encode("latin-1"))
    ),
}


def send(client, env, case: Case):
    body = case.body(env) if callable(case.body) else case.body
    headers = {**AUTH, **case.headers}
    if isinstance(body, dict):
        return client.open(case.path, method=case.method, json=body, headers=headers)
    return client.open(
        case.path, method=case.method, data=body, headers=headers, content_type="application/json"
    )


CASES["model-traversal"].words = "not allowed"


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_request(client, env, kind):
    case = CASES[kind]
    started = time.monotonic()
    r = send(client, env, case)
    assert time.monotonic() - started < 30  # no hang
    assert r.status_code == case.status, r.get_data(as_text=True)[:500]
    assert r.is_json
    text = json.dumps(r.get_json())
    assert case.words.lower() in text.lower()
    if r.status_code >= 400:
        assert r.get_json()["status"] == r.status_code and r.get_json()["error"]
    assert "Traceback" not in text and "internal error" not in text
    health = client.get("/health", headers=AUTH)  # the server is still up and well
    assert health.status_code == 200 and health.get_json()["status"] == "UP"


def test_project_ids_never_reach_the_store_or_the_scheduler(app, client, env):
    for project in ("a/b", "..", ["x"], {"id": "/etc"}):
        for action in ("START_TRAINING", "ANNOTATION_CREATED"):
            r = client.post("/webhook", json={"action": action, "project": project})
            assert r.status_code == 400
    state = app.extensions["fm_inspect"]
    store_root = state.models.store.root
    assert not store_root.exists() or all(
        p.name.startswith("project-") and p.name[8:].isdigit() for p in store_root.iterdir()
    )
    assert not any(k for k in json.dumps(state.scheduler.status()) if k == "/")


def test_declared_project_id_pattern_is_accepted(tmp_path):
    settings = make_settings(tmp_path, PROJECT_ID_PATTERN="team-[a-z]+")
    client = create_app(settings, preload=False).test_client()
    assert client.get("/versions?project=team-north").status_code == 200
    assert client.get("/versions?project=team-north/x").status_code == 400
    r = client.get("/versions?project=other")
    assert r.status_code == 400 and "PROJECT_ID_PATTERN" in r.get_json()["error"]


def test_refusals_do_not_probe_paths(client, env):
    """A path that exists and one that does not get the same answer, outside MODEL_DIR and in."""

    def message(name) -> tuple[int, str]:
        r = client.post("/predict", json=_predict(config(f'model_name="{name}"')))
        return r.status_code, r.get_json()["error"].replace(str(name), "NAME")

    outside = env["outside"]
    assert message(outside / "model") == message(outside / "no-such-folder")
    assert message(outside / "secret.png") == message(outside / "no-such-file")
    inside = env["models"]
    assert message(inside / "not-a-model") == message(inside / "no-such-folder")
    status, text = message(inside / "no-such-folder")
    assert status == 503 and str(env["tmp"]) not in text


def test_a_model_built_on_first_use_is_not_built_by_a_request(client, env):
    started = time.monotonic()
    r = client.post("/setup", json={"schema": config('model_name="fm-concrete-small"')})
    assert (
        r.status_code == 503 and "python -m model_zoo pretrain --default" in r.get_json()["error"]
    )
    assert time.monotonic() - started < 10  # refused, not minutes of pretraining
    assert not (env["models"] / "zoo" / "fm-concrete-small").exists()


BAD_TASKS = {
    "local-file-traversal": (
        {"image": "/data/local-files/?d=../outside/secret.png"},
        "leads outside",
    ),
    "local-file-symlink-out": ({"image": "/data/local-files/?d=link.png"}, "leads outside"),
    "local-file-fifo": ({"image": "/data/local-files/?d=pipe.png"}, "regular file"),
    "huge-image": (
        {"image": "HUGE"},  # replaced below: 20000x20000 pixels in a small PNG
        "pixels",
    ),
    "not-an-image": (
        {"image": "data:image/png;base64," + base64.b64encode(b"junk").decode()},
        "not a readable image",
    ),
    "ssrf-metadata-host": (
        {"image": "http://169.254.169.254/latest/meta-data"},
        "ALLOWED_IMAGE_HOSTS",
    ),
    "file-scheme": ({"image": "file:///etc/passwd"}, "scheme"),
    "url-not-a-string": ({"image": 42}, "not a string"),
    "no-image-key": ({"text": "no image"}, "'image'"),
    "no-data": (None, "no 'data'"),
}


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("L", (20000, 20000)).save(path)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.mark.parametrize("kind", list(BAD_TASKS))
def test_bad_task_leaves_the_rest_of_the_batch(client, kind, huge_png):
    data, words = BAD_TASKS[kind]
    if data == {"image": "HUGE"}:
        data = {"image": huge_png}
    bad = {"id": 7} if data is None else {"id": 7, "data": data}
    tasks = [good(1), bad, good(2)]
    started = time.monotonic()
    r = client.post("/predict", json={"tasks": tasks, "label_config": DEFECTS_XML})
    assert time.monotonic() - started < 30
    assert r.status_code == 200
    body = r.get_json()
    first, middle, last = body["results"]
    assert first["result"] and last["result"] and middle == []
    (error,) = body["errors"]
    assert error["task"] == 7 and words.lower() in error["error"].lower(), error
    assert client.get("/health").status_code == 200


def test_disk_errors_are_503_not_404(tmp_path, crack_model):
    """A live pointer that cannot be written (here: a folder in its place) is a disk error."""
    settings = make_settings(tmp_path)
    app = create_app(settings, preload=False)
    store = app.extensions["fm_inspect"].models.store
    store.add_version(
        "project-3",
        "p3-v1",
        lambda d: shutil.copytree(crack_model, d, dirs_exist_ok=True),
        {},
        make_live=False,
    )
    (store.scope_dir("project-3") / "live").mkdir()  # writing the pointer now fails (EISDIR)
    (store.scope_dir("project-3") / "live" / "x").write_text("")
    client = app.test_client()
    r = client.post("/versions/live", json={"project": 3, "version": "p3-v1"})
    assert r.status_code == 503 and "cannot read or write" in r.get_json()["error"]
    assert str(tmp_path) not in r.get_json()["error"]
    health = client.get("/health")
    assert health.status_code == 200 and any(
        "model store" in e for e in health.get_json()["errors"]
    )
    r = client.post("/predict", json=_predict(project=3))
    assert r.status_code == 503 and "MODEL_DIR" in r.get_json()["error"]


def test_decoded_pixels_are_released_part_by_part(tmp_path, trained_tiny):
    """With a pixel budget of about one image, a batch never holds two decoded images at once."""
    tasks = [
        {"id": i, "data": {"image": data_url(random_image(300, 300, seed=i))}} for i in range(4)
    ]
    peaks = {}
    for budget in (100_000, 10_000_000):
        settings = make_settings(
            tmp_path / str(budget), PREDICT_PIXEL_BUDGET=budget, CLASSIFIER_MODEL=trained_tiny
        )
        app = create_app(settings)
        fetcher = app.extensions["fm_inspect"].fetcher
        alive, peak = [0], [0]
        real_decode = fetcher.decode

        def decode(url, data, real_decode=real_decode, alive=alive, peak=peak):
            image = real_decode(url, data)
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
            weakref.finalize(image, lambda: alive.__setitem__(0, alive[0] - 1))
            return image

        fetcher.decode = decode
        r = app.test_client().post("/predict", json={"tasks": tasks, "label_config": DEFECTS_XML})
        assert r.status_code == 200 and all(p["result"] for p in r.get_json()["results"])
        peaks[budget] = peak[0]
    assert peaks == {100_000: 1, 10_000_000: 4}


def test_open_backend_is_said_loudly(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        create_app(make_settings(tmp_path, HOST="0.0.0.0"), preload=False)
    assert "THE BACKEND IS OPEN" in caplog.text and "BASIC_AUTH_USER" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        create_app(make_settings(tmp_path), preload=False)  # loopback by default
        create_app(
            make_settings(tmp_path, HOST="0.0.0.0", BASIC_AUTH_USER="u", BASIC_AUTH_PASS="p"),
            preload=False,
        )
    assert "THE BACKEND IS OPEN" not in caplog.text


def test_a_foreign_save_pretrained_folder_leaves_health_up(client, env):
    """Defect 1: /setup with a plain save_pretrained folder whose labels overlap the config's
    used to make /health answer 500 until restart."""
    from model_zoo.classifier.model import load_classifier

    foreign = env["models"] / "foreign"
    tiny = load_classifier("tiny-vit", ["Crack", "Rust", "Algae"], device="cpu")
    tiny.model.save_pretrained(foreign, safe_serialization=True)
    tiny.processor.save_pretrained(foreign)
    r = client.post("/setup", json={"schema": config(f'model_name="{foreign}"'), "project": 5})
    assert r.status_code == 200
    r = client.post("/predict", json=_predict(config(f'model_name="{foreign}"'), project=5))
    assert r.status_code == 200 and r.get_json()["results"][0]["result"]
    health = client.get("/health")
    assert health.status_code == 200
    (model,) = [m for m in health.get_json()["models"] if m["name"] == str(foreign)]
    assert model["head_trained"] is True
