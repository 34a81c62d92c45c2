"""The backend under real gunicorn (the Dockerfile's command): slow clients, the access log,
two workers on a read-only MODEL_DIR."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from ml_backend.tools.local_backend import LocalBackend

SLOW_CLIENTS = 8
USER, PASSWORD = "ls", "pässwörd-42"


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    env = {
        "MODEL_DIR": str(tmp / "models"),
        "DEVICE": "cpu",
        "LOG_LEVEL": "INFO",
        "BASIC_AUTH_USER": USER,
        "BASIC_AUTH_PASS": PASSWORD,
    }
    server = LocalBackend(env, tmp / "backend.log").start()
    yield server
    server.stop()


def _trickle(port: int, stop: threading.Event, opened: list) -> None:
    """A client that announces a 100 kB body and sends one byte every 0.2 s."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    opened.append(sock)
    auth = _basic(f"{USER}:{PASSWORD}".encode())
    sock.sendall(
        (
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth}\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
    )
    while not stop.is_set():
        try:
            sock.sendall(b" ")
        except OSError:
            return
        time.sleep(0.2)


def test_health_answers_within_a_second_while_slow_clients_trickle_bodies(backend):
    stop, opened = threading.Event(), []
    clients = [
        threading.Thread(target=_trickle, args=(backend.port, stop, opened), daemon=True)
        for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(1.5)  # every slow client is connected and holds its request open
        assert len(opened) == SLOW_CLIENTS
        times = []
        for _ in range(4):
            started = time.monotonic()
            r = requests.get(f"{backend.url}/health", auth=(USER, PASSWORD), timeout=5)
            times.append(time.monotonic() - started)
            assert r.status_code == 200
            time.sleep(0.5)
        assert max(times) < 1.0, times
    finally:
        stop.set()
        for sock in opened:
            sock.close()


def test_access_log_never_carries_credentials(backend):
    token = "tok-" + "s3cr3t" * 4  # a header without ':' (gunicorn logged it whole)
    for header in (_basic(token.encode()), _basic(f"{USER}:{PASSWORD}".encode())):
        r = requests.get(f"{backend.url}/health", headers={"Authorization": header}, timeout=5)
        assert r.status_code in (200, 401)
    time.sleep(0.5)
    log = backend.log_text()
    assert '"GET /health HTTP/1.1" 401' in log and '"GET /health HTTP/1.1" 200' in log
    for secret in (token, PASSWORD, base64.b64encode(token.encode()).decode()):
        assert secret not in log
    assert f" {USER} [" not in log  # gunicorn's %(u)s field is not written either


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a read-only /sys")
def test_two_workers_start_on_a_read_only_model_dir(tmp_path):
    model_dir = Path("/sys/fm-inspect-test-models")
    with pytest.raises(OSError):
        model_dir.mkdir(parents=True)  # not writable, not even for root
    env = {"MODEL_DIR": str(model_dir), "DEVICE": "cpu", "WORKERS": "2", "LOG_LEVEL": "INFO"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = LocalBackend(env, tmp_path / "backend.log")
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server.start()
    try:
        health = requests.get(f"{server.url}/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "UP"
        r = requests.post(
            f"{server.url}/webhook", json={"action": "START_TRAINING", "project": 3}, timeout=5
        )
        assert r.status_code == 503 and "MODEL_DIR" in r.json()["error"]
    finally:
        server.stop()
    log = server.log_text()
    assert "WARNING: MODEL_DIR is not writable" in log and "Traceback" not in log
