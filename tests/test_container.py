"""Docker does not run on CI: keep the Dockerfile and compose file in step with what CI runs."""

import re
import threading
from pathlib import Path

import pytest
import yaml
from werkzeug.serving import make_server

from ml_backend.jobs.runner import RQ_WORKER_OPTIONS
from ml_backend.server.app import create_app
from ml_backend.server.healthcheck import main as healthcheck
from ml_backend.settings import SETTINGS
from ml_backend.tools.local_backend import LocalBackend
from tests.ml_backend.conftest import make_settings

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_dockerfile_runs_the_tested_gunicorn_command():
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, flags=re.M)
    assert cmd, "Dockerfile has no exec-form CMD"
    args = yaml.safe_load(cmd.group(1))
    assert args[0] == "gunicorn"
    assert (
        args[1:3] == ["-c", "ml_backend/server/gunicorn.conf.py"]
        and args[-1] == "ml_backend.server.wsgi:app"
    )
    tested = LocalBackend.command(Path("gunicorn"), 9090)
    assert tested[1:3] == args[1:3] and tested[-1] == args[-1]


def test_dockerfile_is_non_root_with_healthcheck_and_model_volume():
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, flags=re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(
        r'^HEALTHCHECK .*\\\n\s+CMD \["python", "-m", "ml_backend.server.healthcheck"\]',
        DOCKERFILE,
        flags=re.M,
    )
    assert 'VOLUME ["/data/models"]' in DOCKERFILE and "MODEL_DIR=/data/models" in DOCKERFILE
    for copied in re.findall(r"^COPY .*? (\S+) /app/\S+$", DOCKERFILE, flags=re.M):
        assert (REPO / copied).exists(), copied


def test_compose_uses_only_known_settings_and_the_ssrf_switches():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    backend = compose["services"]["fm-inspect"]["environment"]
    for service in ("fm-inspect", "trainer"):
        unknown = set(compose["services"][service]["environment"]) - set(SETTINGS)
        assert not unknown, f"compose sets variables the backend does not read: {unknown}"
    trainer = compose["services"]["trainer"]
    assert trainer["command"][:2] == ["rq", "worker"] and trainer["command"][-1] == "fm-inspect"
    options = trainer["command"][
        4:-1
    ]  # after `--url redis://...`: what the tests start workers with
    assert options == RQ_WORKER_OPTIONS
    assert SETTINGS["RQ_QUEUE"].default == "fm-inspect"
    assert backend["LABEL_STUDIO_URL"].startswith("http://label-studio:")
    ls = compose["services"]["label-studio"]
    assert ls["image"].endswith(":1.23.2")
    assert ls["environment"]["ML_BLOCK_LOCAL_IP"] == "false"
    assert ls["environment"]["SSRF_PROTECTION_ENABLED"] == "false"


def test_the_image_installs_from_the_lock_only():
    dockerfile = (REPO / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs, "the Dockerfile installs nothing"
    for line in installs:
        assert "--require-hashes" in line and "-r /app/requirements.txt" in line, line
    assert "COPY requirements.txt" in dockerfile and "requirements.in" not in dockerfile


@pytest.fixture
def running_backend(tmp_path):
    app = create_app(
        make_settings(tmp_path, BASIC_AUTH_USER="u", BASIC_AUTH_PASS="p"), preload=False
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


def test_healthcheck_uses_port_and_basic_auth(running_backend, monkeypatch):
    monkeypatch.setenv("PORT", str(running_backend))
    monkeypatch.setenv("BASIC_AUTH_USER", "u")
    monkeypatch.setenv("BASIC_AUTH_PASS", "p")
    assert healthcheck() == 0
    monkeypatch.setenv("BASIC_AUTH_PASS", "wrong")
    assert healthcheck() == 1
    monkeypatch.setenv("BASIC_AUTH_PASS", "p")
    monkeypatch.setenv("PORT", "1")
    assert healthcheck() == 1
