"""Tests for ml_backend.images.fetcher against local HTTP servers that imitate Label Studio.

Two servers run for the module: a fake Label Studio on 127.0.0.1 and a foreign image host
(a cloud bucket, a CDN) on 127.0.0.2. Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import logging
import os
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import numpy as np
import pytest
from PIL import Image, ImageFile

from ml_backend.images.fetcher import FetchLimits, ImageFetcher, ImageFetchError

JWT_KEY = "fm-inspect-test-signing-key-0123456789"  # >= 32 bytes for HS256
LEGACY = "0123456789abcdef0123456789abcdef01234567"


def make_jwt(token_type: str, ttl_s: float | None, **claims) -> str:
    payload = {"token_type": token_type, "user_id": 1, **claims}
    if ttl_s is not None:
        payload["exp"] = int(time.time() + ttl_s)
    return jwt.encode(payload, JWT_KEY, algorithm="HS256")


PAT = make_jwt("refresh", 3600, jti="pat-1")


def png_bytes(img: Image.Image, fmt: str = "PNG", **save_kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save_kw)
    return buf.getvalue()


RED_PNG = png_bytes(Image.new("RGB", (4, 3), (255, 0, 0)))
BLUE_PNG = png_bytes(Image.new("RGB", (5, 2), (0, 0, 255)))


def data_url(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


_RESERVED: list = []


def free_port(host: str = "127.0.0.1") -> int:
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""
    import socket

    sock = socket.socket()
    sock.bind((host, 0))
    _RESERVED.append(sock)  # kept open for the whole session
    return sock.getsockname()[1]


# ------------------------------------------------------------------------------ fake servers

Route = Callable[["_Handler", dict], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Label Studio behind a real server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.server.app.dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.app.dispatch(self, "POST")

    # helpers for routes
    def send(self, status: int, body: bytes = b"", ctype: str = "image/png", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, obj) -> None:
        self.send(status, json.dumps(obj).encode(), ctype="application/json")

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", ctype="text/plain", Location=location)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gives up on a response (limits, timeouts) resets the connection.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    def __init__(self, host: str) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.client_ports: list[int] = []
        self.stop = threading.Event()
        self.httpd = _Server((host, 0), _Handler)
        self.httpd.app = self
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def dispatch(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        self.requests.append((method, handler.path, dict(handler.headers.items())))
        self.client_ports.append(handler.client_address[1])
        route = self.routes.get(f"{method} {parts.path}")
        if route is None:
            handler.send_json(404, {"detail": "Not found."})
            return
        with contextlib.suppress(ConnectionError):  # the client gave up (limits, timeouts)
            route(handler, parse_qs(parts.query))

    def auth_headers_seen(self) -> list[str | None]:
        return [h.get("Authorization") for _, _, h in self.requests]

    def paths_seen(self) -> list[str]:
        return [p for _, p, _ in self.requests]


class FakeLabelStudio(FakeServer):
    """Label Studio's media, token-refresh and presign endpoints."""

    def __init__(self, other_url: str) -> None:
        super().__init__("127.0.0.1")
        self.other_url = other_url
        self.reset()
        r = self.routes
        r["GET /data/upload/1/x.png"] = self.authed(lambda h, q: h.send(200, RED_PNG))
        r["GET /data/upload/1/login.png"] = lambda h, q: h.redirect(
            "/user/login/?next=/data/upload/1/login.png"
        )
        r["GET /storage-data/uploaded/"] = self.authed(self.storage_proxy)
        r["GET /data/local-files/"] = self.authed(self.local_files)
        r["POST /api/token/refresh/"] = self.refresh
        r["GET /redirect-out"] = lambda h, q: h.redirect(f"{self.other_url}/x.png")
        r["GET /redirect-meta"] = lambda h, q: h.redirect("http://169.254.169.254/latest/")
        r["GET /redirect-loop"] = lambda h, q: h.redirect("/redirect-loop")
        r["GET /server-error"] = lambda h, q: h.send_json(500, {"detail": "boom"})
        r["GET /not-image"] = lambda h, q: h.send(
            200, b"<!DOCTYPE html><html>Login</html>", ctype="text/html"
        )
        r["GET /huge"] = self.huge
        r["GET /stream-big"] = self.stream_big
        r["GET /gzip-bomb"] = self.gzip_bomb
        r["GET /slow"] = self.slow
        r["GET /drip"] = self.drip
        for task_id in (7, 8):
            r[f"GET /tasks/{task_id}/presign/"] = self.authed(self.presign)

    def reset(self) -> None:
        self.requests.clear()
        self.client_ports.clear()
        self.refresh_calls: list[str] = []
        self.access_ttl = 300.0
        self.revoked: set[str] = set()
        self.presigned: list[str] = []
        self.files: dict[str, bytes] = {}

    # -- auth, as Label Studio 1.23 does it: legacy "Token", JWT access tokens as "Bearer"
    def is_authorized(self, header: str | None) -> bool:
        if not header:
            return False
        kind, _, value = header.partition(" ")
        if kind == "Token":
            return value == LEGACY
        if kind == "Bearer":
            try:
                claims = jwt.decode(
                    value, JWT_KEY, algorithms=["HS256"], options={"verify_exp": False}
                )
            except jwt.InvalidTokenError:
                return False
            return claims.get("token_type") == "access"
        return False

    def authed(self, route: Route) -> Route:
        def wrapped(h: _Handler, q: dict) -> None:
            if not self.is_authorized(h.headers.get("Authorization")):
                h.send_json(401, {"detail": "Authentication credentials were not provided."})
                return
            route(h, q)

        return wrapped

    def refresh(self, h: _Handler, q: dict) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        token = body.get("refresh", "")
        self.refresh_calls.append(token)
        try:
            claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            claims = {}
        if claims.get("token_type") != "refresh" or token in self.revoked:
            h.send_json(401, {"detail": "Token is invalid or expired", "code": "token_not_valid"})
            return
        access = make_jwt("access", self.access_ttl, jti=f"a{len(self.refresh_calls)}")
        h.send_json(200, {"access": access})

    def storage_proxy(self, h: _Handler, q: dict) -> None:
        if q.get("filepath") == ["upload/2/y.png"]:
            h.send(200, BLUE_PNG)
        else:
            h.send_json(404, {"detail": "Not found."})

    def local_files(self, h: _Handler, q: dict) -> None:
        d = q.get("d", [""])[-1]
        if d in self.files:
            h.send(200, self.files[d])
        else:
            h.send_json(404, {"detail": "Not found."})

    def presign(self, h: _Handler, q: dict) -> None:
        uri = base64.urlsafe_b64decode(q["fileuri"][0]).decode()
        self.presigned.append(uri)
        name = uri.rsplit("/", 1)[-1]
        if name == "local.png":
            h.redirect("file:///etc/passwd")
        elif name == "unknown-storage.png":
            h.send_json(404, {"detail": "Not found."})
        else:
            h.redirect(f"{self.other_url}/bucket/{name}?X-Amz-Signature=SECRETSIG")

    def huge(self, h: _Handler, q: dict) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(10**12))
        h.end_headers()
        h.wfile.write(RED_PNG)

    def stream_big(self, h: _Handler, q: dict) -> None:
        h.close_connection = True  # no Content-Length: the body ends when the socket does
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Connection", "close")
        h.end_headers()
        for _ in range(64):
            h.wfile.write(b"\0" * 65536)

    def gzip_bomb(self, h: _Handler, q: dict) -> None:
        body = gzip.compress(b"\0" * (8 * 1024 * 1024))  # about 8 KB on the wire
        h.send(200, body, Content_Encoding="gzip")

    def slow(self, h: _Handler, q: dict) -> None:
        h.close_connection = True
        self.stop.wait(5)
        h.send(200, RED_PNG)

    def drip(self, h: _Handler, q: dict) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):
            if self.stop.wait(0.05):
                return
            h.wfile.write(b"\0")
            h.wfile.flush()


class FakeImageHost(FakeServer):
    """A host other than Label Studio: a bucket behind presigned URLs, or a CDN."""

    def __init__(self) -> None:
        super().__init__("127.0.0.2")
        self.closed_port = free_port()
        r = self.routes
        r["GET /x.png"] = lambda h, q: h.send(200, BLUE_PNG)
        r["GET /bucket/x.png"] = lambda h, q: h.send(200, RED_PNG)
        r["GET /bucket/bounce.png"] = lambda h, q: h.redirect(
            f"http://127.0.0.1:{self.closed_port}/evil.png"
        )
        r["GET /bucket/relative.png"] = lambda h, q: h.redirect("/bucket/x.png")
        r["GET /to-ls"] = lambda h, q: h.redirect(f"{self.ls_url}/data/upload/1/x.png")
        self.ls_url = ""


@pytest.fixture(scope="module")
def servers():
    other = FakeImageHost()
    ls = FakeLabelStudio(other.url)
    other.ls_url = ls.url
    for s in (ls, other):
        s.thread.start()
    yield ls, other
    for s in (ls, other):
        s.stop.set()
        s.httpd.shutdown()
        s.httpd.server_close()


@pytest.fixture
def ls(servers) -> FakeLabelStudio:
    ls, other = servers
    ls.reset()
    other.requests.clear()
    return ls


@pytest.fixture
def other(servers, ls) -> FakeImageHost:
    return servers[1]


FAST = FetchLimits(timeout_s=10.0)  # generous: a loaded CI machine must not time out


@pytest.fixture(autouse=True)
def _close_fetchers(monkeypatch):
    """Close every fetcher a test made, so that no pooled connection outlives its test."""
    made: list[ImageFetcher] = []
    init = ImageFetcher.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ImageFetcher, "__init__", recording_init)
    yield
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(ls) -> ImageFetcher:
    return ImageFetcher(ls.url, LEGACY, limits=FAST)


@pytest.fixture
def pat_fetcher(ls) -> ImageFetcher:
    return ImageFetcher(ls.url, PAT, limits=FAST)


def fetch_error(fn, *args, **kwargs) -> ImageFetchError:
    with pytest.raises(ImageFetchError) as info:
        fn(*args, **kwargs)
    return info.value


def assert_red(img: Image.Image, size=(4, 3)) -> None:
    assert img.mode == "RGB"
    assert img.size == size
    assert img.getpixel((0, 0)) == (255, 0, 0)


# ------------------------------------------------------------------------------ Label Studio URLs


def test_upload_with_legacy_token(fetcher, ls):
    assert_red(fetcher.fetch_image("/data/upload/1/x.png"))
    assert ls.auth_headers_seen() == [f"Token {LEGACY}"]
    assert ls.refresh_calls == []


def test_connections_are_kept_alive_between_fetches(fetcher, ls):
    for _ in range(3):
        assert_red(fetcher.fetch_image("/data/upload/1/x.png"))
    assert len(ls.client_ports) == 3 and len(set(ls.client_ports)) == 1


def test_bare_upload_key_is_an_upload(fetcher, ls):
    assert_red(fetcher.fetch_image("upload/1/x.png"))
    assert ls.paths_seen() == ["/data/upload/1/x.png"]


def test_absolute_label_studio_url_gets_the_token(fetcher, ls):
    assert_red(fetcher.fetch_image(f"{ls.url}/data/upload/1/x.png"))
    assert ls.auth_headers_seen() == [f"Token {LEGACY}"]


def test_label_studio_url_with_trailing_slash(ls):
    fetcher = ImageFetcher(ls.url + "/", LEGACY, limits=FAST)
    assert_red(fetcher.fetch_image("/data/upload/1/x.png"))


def test_storage_proxy_url(fetcher, ls):
    img = fetcher.fetch_image("/storage-data/uploaded/?filepath=upload/2/y.png")
    assert img.size == (5, 2)


def test_upload_404_falls_back_to_storage_proxy(fetcher, ls):
    img = fetcher.fetch_image("/data/upload/2/y.png")
    assert img.size == (5, 2)
    assert ls.paths_seen() == [
        "/data/upload/2/y.png",
        "/storage-data/uploaded/?filepath=upload/2/y.png",
    ]


def test_missing_upload_is_http_error_with_status_and_url(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, "/data/upload/9/gone.png")
    assert err.reason == "http_error"
    assert err.status_code == 404
    assert "404" in str(err) and "/data/upload/9/gone.png" in str(err)


def test_relative_url_needs_label_studio_url():
    err = fetch_error(ImageFetcher(None, LEGACY).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "missing_config"
    assert "LABEL_STUDIO_URL" in str(err)


def test_label_studio_url_without_scheme_is_reported():
    err = fetch_error(ImageFetcher("ls:8080", LEGACY).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "missing_config"
    assert "http://" in str(err)


def test_relative_url_needs_a_token(ls):
    err = fetch_error(ImageFetcher(ls.url, None).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "missing_config"
    assert "LABEL_STUDIO_API_KEY" in str(err)
    assert ls.requests == []


def test_refused_legacy_token_is_unauthorized_with_advice(ls):
    err = fetch_error(ImageFetcher(ls.url, "wrong-token").fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "unauthorized"
    assert err.status_code == 401
    assert "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN" in str(err)
    assert "personal access token" in str(err)
    assert "wrong-token" not in str(err)


def test_redirect_to_login_page_is_unauthorized(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, "/data/upload/1/login.png")
    assert err.reason == "unauthorized"
    assert "/user/login/" not in ls.paths_seen()


def test_unreachable_label_studio_names_the_setting():
    url = f"http://127.0.0.1:{free_port()}"
    err = fetch_error(ImageFetcher(url, LEGACY, limits=FAST).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "unreachable"
    assert "connection refused" in str(err)
    assert "LABEL_STUDIO_URL" in str(err)
    assert "Docker" in str(err)


# ------------------------------------------------------------------------------ tokens


def test_personal_access_token_is_exchanged_once_and_sent_as_bearer(pat_fetcher, ls):
    assert_red(pat_fetcher.fetch_image("/data/upload/1/x.png"))
    assert_red(pat_fetcher.fetch_image("/data/upload/1/x.png"))
    assert ls.refresh_calls == [PAT]
    auths = [h.get("Authorization") for _, p, h in ls.requests if p.startswith("/data")]
    assert len(auths) == 2 and auths[0] == auths[1]
    kind, _, access = auths[0].partition(" ")
    assert kind == "Bearer" and access != PAT
    assert jwt.decode(access, JWT_KEY, algorithms=["HS256"])["token_type"] == "access"


def test_expired_access_token_is_refreshed(pat_fetcher, ls):
    ls.access_ttl = -60  # every access token the server hands out is already expired
    pat_fetcher.fetch_bytes("/data/upload/1/x.png")
    pat_fetcher.fetch_bytes("/data/upload/1/x.png")
    assert ls.refresh_calls == [PAT, PAT]


def test_construction_does_not_contact_label_studio(ls):
    ImageFetcher(ls.url, PAT)
    ImageFetcher(f"http://127.0.0.1:{free_port()}", PAT)
    assert ls.requests == []


def test_revoked_personal_access_token_is_unauthorized(pat_fetcher, ls):
    ls.revoked.add(PAT)
    err = fetch_error(pat_fetcher.fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "unauthorized"
    assert "personal access token" in str(err)
    assert PAT not in str(err)


@pytest.mark.parametrize(
    "token",
    [make_jwt("refresh", None), make_jwt("refresh", -60)],
    ids=["no-exp", "expired"],
)
def test_unusable_personal_access_token_is_unauthorized_without_network(ls, token):
    err = fetch_error(ImageFetcher(ls.url, token).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "unauthorized"
    assert ls.requests == []


def test_token_refresh_against_unreachable_label_studio():
    url = f"http://127.0.0.1:{free_port()}"
    err = fetch_error(ImageFetcher(url, PAT, limits=FAST).fetch_bytes, "/data/upload/1/x.png")
    assert err.reason == "unreachable"
    assert "LABEL_STUDIO_URL" in str(err)


def test_concurrent_fetches_share_one_client_and_one_refresh(pat_fetcher, ls):
    results: list[object] = []

    def work() -> None:
        try:
            results.append(pat_fetcher.fetch_image("/data/upload/1/x.png").size)
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(4, 3)] * 8
    assert ls.refresh_calls == [PAT]


def test_token_is_never_logged_or_shown(ls, caplog):
    caplog.set_level(logging.DEBUG)
    for token in (LEGACY, PAT):
        fetcher = ImageFetcher(ls.url, token, limits=FAST)
        fetcher.fetch_bytes("/data/upload/1/x.png")
        err = fetch_error(fetcher.fetch_bytes, "/data/upload/9/gone.png")
        assert token not in str(err) and token not in repr(fetcher)
        assert token not in caplog.text
    access = ls.auth_headers_seen()[-1].partition(" ")[2]
    assert access not in caplog.text


# ------------------------------------------------------------------------------ allow-list


def test_foreign_host_is_refused_by_default(fetcher, other):
    err = fetch_error(fetcher.fetch_bytes, f"{other.url}/x.png")
    assert err.reason == "not_allowed"
    assert "ALLOWED_IMAGE_HOSTS" in str(err) and "127.0.0.2" in str(err)
    assert other.requests == []


def test_allowed_host_is_fetched_without_the_token(ls, other):
    fetcher = ImageFetcher(ls.url, LEGACY, allowed_hosts=["127.0.0.2"], limits=FAST)
    assert fetcher.fetch_image(f"{other.url}/x.png").size == (5, 2)
    assert other.auth_headers_seen() == [None]


def test_label_studio_hostname_on_another_port_is_not_label_studio(fetcher):
    err = fetch_error(fetcher.fetch_bytes, f"http://127.0.0.1:{free_port()}/x.png")
    assert err.reason == "not_allowed"


def test_redirect_to_a_disallowed_host_is_refused(fetcher, ls, other):
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}/redirect-out")
    assert err.reason == "not_allowed"
    assert "redirect" in str(err)
    assert other.requests == []


def test_redirect_to_cloud_metadata_address_is_refused(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}/redirect-meta")
    assert err.reason == "not_allowed"
    assert "169.254.169.254" in str(err)


def test_redirect_from_an_allowed_host_to_label_studio_carries_the_token_there_only(ls, other):
    fetcher = ImageFetcher(ls.url, LEGACY, allowed_hosts=["127.0.0.2"], limits=FAST)
    assert_red(fetcher.fetch_image(f"{other.url}/to-ls"))
    assert other.auth_headers_seen() == [None]
    assert ls.auth_headers_seen() == [f"Token {LEGACY}"]


def test_too_many_redirects(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}/redirect-loop")
    assert err.reason == "http_error"
    assert "redirects" in str(err)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://images.example.com/a.png", True),
        ("https://images.example.com:8443/a.png", True),
        ("http://IMAGES.Example.COM./a.png", True),
        ("http://cdn.example.org/a.png", False),
        ("http://a.b.cdn.example.org/a.png", True),
        ("http://example.org/a.png", False),
        ("http://evil-example.org/a.png", False),
        ("http://minio:9000/b/a.png", True),
        ("http://minio:9001/b/a.png", False),
        ("http://images.example.com.evil.net/a.png", False),
        ("http://images.example.com@evil.net/a.png", False),
        ("ftp://images.example.com/a.png", False),
        ("http://ls.internal:8080/data/upload/1/a.png", True),
        ("http://ls.internal:8081/data/upload/1/a.png", False),
    ],
)
def test_allow_list_matching(url, allowed):
    fetcher = ImageFetcher(
        "http://ls.internal:8080",
        None,
        allowed_hosts=["images.example.com", "*.cdn.example.org", " minio:9000 ", ""],
    )
    assert fetcher.is_allowed(url) is allowed


def test_allowed_hosts_from_a_comma_separated_string():
    fetcher = ImageFetcher(None, None, allowed_hosts="a.example.com, *.b.example.com")
    assert fetcher.is_allowed("http://a.example.com/x")
    assert fetcher.is_allowed("http://x.b.example.com/x")


def test_ipv6_allowed_host():
    fetcher = ImageFetcher(None, None, allowed_hosts=["[::1]:9000"])
    assert fetcher.is_allowed("http://[::1]:9000/a.png")
    assert not fetcher.is_allowed("http://[::1]:9001/a.png")


@pytest.mark.parametrize("entry", ["http://a.example.com/x", "*", "a.*.com", "::1", "h:port"])
def test_invalid_allowed_host_entry(entry):
    with pytest.raises(ValueError, match="ALLOWED_IMAGE_HOSTS"):
        ImageFetcher(None, None, allowed_hosts=[entry])


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/x.png", "gopher://h/"])
def test_unsupported_schemes(fetcher, url):
    assert fetch_error(fetcher.fetch_bytes, url).reason == "bad_url"


@pytest.mark.parametrize("url", ["", "   ", None, "//127.0.0.2/x.png"])
def test_empty_or_scheme_relative_url(fetcher, url):
    assert fetch_error(fetcher.fetch_bytes, url).reason == "bad_url"


# ------------------------------------------------------------------------------ cloud storage


@pytest.mark.parametrize("scheme", ["s3", "gs", "azure-blob", "azure-spi"])
def test_cloud_uri_goes_through_presign_and_its_redirect(fetcher, ls, other, scheme):
    uri = f"{scheme}://bucket/dir/x.png"
    assert_red(fetcher.fetch_image(uri, task_id=7))
    assert ls.presigned == [uri]
    assert ls.paths_seen()[0].startswith("/tasks/7/presign/?fileuri=")
    assert ls.auth_headers_seen() == [f"Token {LEGACY}"]
    assert other.auth_headers_seen() == [None]  # the token stays with Label Studio


def test_cloud_uri_with_personal_access_token(pat_fetcher, ls):
    assert_red(pat_fetcher.fetch_image("s3://bucket/x.png", task_id=8))
    assert ls.auth_headers_seen()[-1].startswith("Bearer ")


def test_cloud_uri_needs_task_id(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, "s3://bucket/x.png")
    assert err.reason == "missing_config"
    assert "task_id" in str(err)
    assert ls.requests == []


def test_resolved_presign_url_is_trusted_too(fetcher, ls, other):
    fileuri = base64.urlsafe_b64encode(b"gs://bucket/x.png").decode()
    assert_red(fetcher.fetch_image(f"/tasks/7/presign/?fileuri={fileuri}"))
    assert other.paths_seen() == ["/bucket/x.png?X-Amz-Signature=SECRETSIG"]


def test_presign_target_may_redirect_within_its_own_host(fetcher, other):
    assert_red(fetcher.fetch_image("s3://bucket/relative.png", task_id=7))
    assert [p.split("?")[0] for p in other.paths_seen()] == [
        "/bucket/relative.png",
        "/bucket/x.png",
    ]


def test_second_redirect_after_presign_is_checked_again(fetcher, other):
    err = fetch_error(fetcher.fetch_bytes, "s3://bucket/bounce.png", task_id=7)
    assert err.reason == "not_allowed"
    assert "evil.png" in str(err)


def test_presign_redirect_to_a_non_http_url_is_refused(fetcher):
    err = fetch_error(fetcher.fetch_bytes, "s3://bucket/local.png", task_id=7)
    assert err.reason == "not_allowed"


def test_cloud_uri_unknown_to_label_studio(fetcher):
    err = fetch_error(fetcher.fetch_bytes, "gs://bucket/unknown-storage.png", task_id=7)
    assert err.reason == "http_error" and err.status_code == 404
    assert "Cloud Storage" in str(err)


def test_presigned_signature_is_not_shown_in_errors(fetcher, other):
    err = fetch_error(fetcher.fetch_bytes, "s3://bucket/gone.png", task_id=7)
    assert err.reason == "http_error" and err.status_code == 404
    assert "SECRETSIG" not in str(err)
    assert "/bucket/gone.png" in str(err)


# ------------------------------------------------------------------------------ local files


@pytest.fixture
def local_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(RED_PNG)
    (tmp_path / "secret.png").write_bytes(BLUE_PNG)
    return root


def test_local_files_read_from_root_without_label_studio(local_root):
    dead_ls = f"http://127.0.0.1:{free_port()}"
    fetcher = ImageFetcher(dead_ls, LEGACY, local_files_root=str(local_root), limits=FAST)
    assert_red(fetcher.fetch_image("/data/local-files/?d=sub/a.png"))
    assert_red(fetcher.fetch_image("/data/local-files/?d=sub%2Fa.png"))
    assert_red(fetcher.fetch_image("/data/local-files/?d=/sub/./a.png"))


@pytest.mark.parametrize(
    "d",
    ["../../etc/passwd", "../secret.png", "..%2Fsecret.png", "sub/../../secret.png"],
)
def test_local_files_escaping_the_root_are_refused(ls, local_root, d):
    fetcher = ImageFetcher(ls.url, LEGACY, local_files_root=str(local_root), limits=FAST)
    err = fetch_error(fetcher.fetch_bytes, f"/data/local-files/?d={d}")
    assert err.reason == "not_allowed"
    assert ls.requests == []  # refused, not fetched some other way


def test_local_symlink_leading_outside_the_root_is_refused(ls, local_root):
    (local_root / "link").symlink_to(local_root.parent)  # root/link -> the folder above root
    (local_root / "passwd.png").symlink_to(local_root.parent / "secret.png")
    fetcher = ImageFetcher(ls.url, LEGACY, local_files_root=str(local_root), limits=FAST)
    for d in ("link/secret.png", "passwd.png"):
        err = fetch_error(fetcher.fetch_bytes, f"/data/local-files/?d={d}")
        assert err.reason == "not_allowed", d
    assert ls.requests == []


def test_local_symlink_inside_the_root_is_followed(local_root):
    (local_root / "alias.png").symlink_to(local_root / "sub" / "a.png")
    fetcher = ImageFetcher(None, None, local_files_root=str(local_root), limits=FAST)
    assert_red(fetcher.fetch_image("/data/local-files/?d=alias.png"))


def test_local_fifo_is_refused_without_blocking(local_root):
    os.mkfifo(local_root / "pipe.png")  # no writer: a blocking open would hang forever
    fetcher = ImageFetcher(None, None, local_files_root=str(local_root), limits=FAST)
    started = time.monotonic()
    err = fetch_error(fetcher.fetch_bytes, "/data/local-files/?d=pipe.png")
    assert err.reason == "not_allowed" and "regular file" in str(err)
    assert time.monotonic() - started < 30


def test_local_files_downloaded_from_label_studio_without_root(fetcher, ls):
    ls.files["sub/a.png"] = RED_PNG
    assert_red(fetcher.fetch_image("/data/local-files/?d=sub/a.png"))
    assert ls.auth_headers_seen() == [f"Token {LEGACY}"]


def test_local_file_missing_under_root_is_downloaded(ls, local_root):
    ls.files["other/b.png"] = RED_PNG
    fetcher = ImageFetcher(ls.url, LEGACY, local_files_root=str(local_root), limits=FAST)
    assert_red(fetcher.fetch_image("/data/local-files/?d=other/b.png"))


def test_local_file_missing_without_label_studio(local_root):
    fetcher = ImageFetcher(None, None, local_files_root=str(local_root))
    err = fetch_error(fetcher.fetch_bytes, "/data/local-files/?d=nope.png")
    assert err.reason == "http_error"
    assert "LOCAL_FILES_DOCUMENT_ROOT" in str(err)


def test_local_file_size_limit(local_root):
    fetcher = ImageFetcher(
        None, None, local_files_root=str(local_root), limits=FetchLimits(max_bytes=10)
    )
    assert fetch_error(fetcher.fetch_bytes, "/data/local-files/?d=sub/a.png").reason == "too_large"


def test_local_files_url_without_path(local_root):
    fetcher = ImageFetcher(None, None, local_files_root=str(local_root))
    assert fetch_error(fetcher.fetch_bytes, "/data/local-files/?d=").reason == "bad_url"


def test_filesystem_root_is_not_accepted_as_local_files_root(ls):
    fetcher = ImageFetcher(ls.url, LEGACY, local_files_root="/", limits=FAST)
    # not read from disk: asked from Label Studio, which answers 404
    err = fetch_error(fetcher.fetch_bytes, "/data/local-files/?d=etc/passwd")
    assert err.reason == "http_error"
    assert ls.paths_seen() == ["/data/local-files/?d=etc/passwd"]


# ------------------------------------------------------------------------------ data: URLs


def test_data_url():
    assert_red(ImageFetcher(None, None).fetch_image(data_url(RED_PNG)))


def test_percent_encoded_data_url():
    url = "data:image/png," + quote(RED_PNG, safe="")
    assert_red(ImageFetcher(None, None).fetch_image(url))


@pytest.mark.parametrize(
    "url", ["data:image/png;base64,@@@notbase64", "data:image/png;base64"], ids=["bad", "no-comma"]
)
def test_malformed_data_url(url):
    assert fetch_error(ImageFetcher(None, None).fetch_bytes, url).reason == "bad_url"


def test_data_url_size_limit():
    fetcher = ImageFetcher(None, None, limits=FetchLimits(max_bytes=20))
    assert fetch_error(fetcher.fetch_bytes, data_url(RED_PNG)).reason == "too_large"


# ------------------------------------------------------------------------------ limits


def test_huge_content_length_is_refused_up_front(ls):
    fetcher = ImageFetcher(ls.url, LEGACY, limits=FetchLimits(max_bytes=1_000_000))
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}/huge")
    assert err.reason == "too_large"
    assert str(10**12) in str(err)


def test_stream_without_length_stops_at_the_limit(ls):
    fetcher = ImageFetcher(ls.url, LEGACY, limits=FetchLimits(max_bytes=300_000))
    assert fetch_error(fetcher.fetch_bytes, f"{ls.url}/stream-big").reason == "too_large"


def test_compressed_body_is_limited_after_decompression(ls):
    fetcher = ImageFetcher(ls.url, LEGACY, limits=FetchLimits(max_bytes=1_000_000))
    assert fetch_error(fetcher.fetch_bytes, f"{ls.url}/gzip-bomb").reason == "too_large"


@pytest.mark.parametrize("path", ["/slow", "/drip"], ids=["no-answer", "slow-drip"])
def test_overall_deadline(ls, path):
    fetcher = ImageFetcher(ls.url, LEGACY, limits=FetchLimits(timeout_s=0.4))
    start = time.monotonic()
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}{path}")
    assert err.reason == "timeout"
    assert time.monotonic() - start < 3.0  # the endpoints take 5 s


def test_server_error_is_http_error(fetcher, ls):
    err = fetch_error(fetcher.fetch_bytes, f"{ls.url}/server-error")
    assert err.reason == "http_error" and err.status_code == 500


def test_html_is_not_an_image(fetcher, ls):
    err = fetch_error(fetcher.fetch_image, f"{ls.url}/not-image")
    assert err.reason == "not_an_image"
    assert "HTML" in str(err)


def test_formats_that_run_external_programs_are_not_opened(monkeypatch):
    Image.init()

    def eps_opener(fp, filename):  # Pillow's EPS plugin would start Ghostscript
        raise AssertionError("the EPS plugin was used")

    monkeypatch.setitem(Image.OPEN, "EPS", (eps_opener, lambda prefix: True))
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    err = fetch_error(ImageFetcher(None, None).fetch_image, data_url(eps, "image/eps"))
    assert err.reason == "not_an_image"


def test_truncated_image_is_not_an_image():
    jpeg = png_bytes(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    err = fetch_error(ImageFetcher(None, None).fetch_image, data_url(jpeg[: len(jpeg) // 2]))
    assert err.reason == "not_an_image"


def _png_of_zeros(width: int, height: int) -> bytes:
    """A valid 8-bit grayscale PNG of zeros, built without ever holding the pixels: a deflate
    block of 1000 zero rows, cut with a full flush so that it can be repeated."""
    rows = 1000
    assert height % rows == 0
    block = bytes((width + 1) * rows)  # filter byte + pixels, per row
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = raw.compress(block) + raw.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height // rows):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\xda" + piece * (height // rows) + b"\x03\x00" + struct.pack(">I", adler)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def bomb_png(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bomb") / "zeros.png"
    path.write_bytes(_png_of_zeros(20000, 20000))
    return str(path)


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _bomb_fetcher(bomb_png: str, **limits) -> tuple[ImageFetcher, str]:
    root, name = bomb_png.rsplit("/", 1)
    fetcher = ImageFetcher(None, None, local_files_root=root, limits=FetchLimits(**limits))
    return fetcher, f"/data/local-files/?d={name}"


def test_pixel_limit_checked_before_decoding(bomb_png, no_decoding, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # only our own check is left
    fetcher, url = _bomb_fetcher(bomb_png)
    assert len(fetcher.fetch_bytes(url)) < 1_000_000  # a small file ...
    err = fetch_error(fetcher.fetch_image, url)  # ... of 400 megapixels
    assert err.reason == "too_many_pixels"
    assert "20000x20000" in str(err)


def test_pillow_decompression_bomb_error_is_too_many_pixels(bomb_png, no_decoding):
    fetcher, url = _bomb_fetcher(bomb_png, max_pixels=10**12)
    err = fetch_error(fetcher.fetch_image, url)
    assert err.reason == "too_many_pixels"
    assert "MAX_IMAGE_PIXELS" in str(err)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_decompression_bomb_warning_is_too_many_pixels(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    url = data_url(RED_PNG)  # 12 pixels: above Pillow's warning limit, below its error limit
    err = fetch_error(ImageFetcher(None, None).fetch_image, url)
    assert err.reason == "too_many_pixels"


def test_small_pixel_limit():
    fetcher = ImageFetcher(None, None, limits=FetchLimits(max_pixels=11))
    assert fetch_error(fetcher.fetch_image, data_url(RED_PNG)).reason == "too_many_pixels"
    fetcher = ImageFetcher(None, None, limits=FetchLimits(max_pixels=12))
    assert_red(fetcher.fetch_image(data_url(RED_PNG)))


# ------------------------------------------------------------------------------ pixel modes


def decode(data: bytes) -> Image.Image:
    img = ImageFetcher(None, None).fetch_image(data_url(data))
    assert img.mode == "RGB"
    return img


def gray_row(img: Image.Image) -> list[int]:
    arr = np.asarray(img)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    return arr[0, :, 0].tolist()


def test_16_bit_grayscale_is_scaled_not_clipped():
    img = Image.fromarray(np.array([[0, 257 * 100, 1000, 65535]], dtype=np.uint16))
    assert img.mode == "I;16"
    assert gray_row(decode(png_bytes(img))) == [0, 100, 4, 255]


def test_32_bit_integers_in_16_bit_range_are_scaled_like_16_bit():
    img = Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.int32), mode="I")
    assert gray_row(decode(png_bytes(img, "TIFF"))) == [0, 100, 255]


def test_32_bit_integers_out_of_16_bit_range_are_stretched():
    img = Image.fromarray(np.array([[-1000, 0, 1000]], dtype=np.int32), mode="I")
    assert gray_row(decode(png_bytes(img, "TIFF"))) == [0, 128, 255]


def test_float_images():
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    assert gray_row(decode(png_bytes(unit, "TIFF"))) == [0, 128, 255]
    wide = Image.fromarray(np.array([[-2.0, 0.0, 2.0, np.nan]], dtype=np.float32), mode="F")
    assert gray_row(decode(png_bytes(wide, "TIFF"))) == [0, 128, 255, 128]


def test_grayscale_and_bilevel():
    gray = Image.fromarray(np.array([[0, 77, 255]], dtype=np.uint8))
    assert gray_row(decode(png_bytes(gray))) == [0, 77, 255]
    bilevel = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1")
    assert gray_row(decode(png_bytes(bilevel))) == [0, 255]


def test_rgba_is_composited_on_white():
    img = Image.new("RGBA", (3, 1))
    img.putdata([(255, 0, 0, 255), (0, 0, 0, 0), (0, 0, 255, 128)])
    out = decode(png_bytes(img))
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((1, 0)) == (255, 255, 255)
    assert out.getpixel((2, 0)) == (127, 127, 255)


def test_gray_with_alpha():
    img = Image.new("LA", (2, 1))
    img.putdata([(10, 255), (10, 0)])
    assert gray_row(decode(png_bytes(img))) == [10, 255]


def test_palette_images():
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putdata([0, 1])
    out = decode(png_bytes(img))
    assert [out.getpixel((x, 0)) for x in range(2)] == [(255, 0, 0), (0, 255, 0)]
    transparent = decode(png_bytes(img, transparency=1))  # palette index 1 is transparent
    assert [transparent.getpixel((x, 0)) for x in range(2)] == [(255, 0, 0), (255, 255, 255)]


def test_cmyk():
    img = Image.new("CMYK", (2, 1))
    img.putdata([(255, 0, 0, 0), (0, 0, 0, 255)])
    out = decode(png_bytes(img, "TIFF"))
    assert [out.getpixel((x, 0)) for x in range(2)] == [(0, 255, 255), (0, 0, 0)]


@pytest.mark.parametrize(
    ("orientation", "size", "red_at", "blue_at"),
    [
        (1, (4, 2), (0, 0), (3, 0)),
        (3, (4, 2), (3, 0), (0, 0)),  # rotated 180
        (6, (2, 4), (0, 0), (0, 3)),  # shown rotated 90 degrees clockwise
        (8, (2, 4), (0, 3), (0, 0)),  # shown rotated 90 degrees counter-clockwise
    ],
)
def test_exif_orientation_is_applied(orientation, size, red_at, blue_at):
    img = Image.new("RGB", (4, 2), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 2, 2))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = decode(png_bytes(img, exif=exif))
    assert out.size == size
    assert out.getpixel(red_at) == (255, 0, 0)
    assert out.getpixel(blue_at) == (0, 0, 255)


def test_exif_orientation_in_jpeg():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode(png_bytes(img, "JPEG", exif=exif, quality=95))
    assert out.size == (20, 40)


# ------------------------------------------------------------------------------ configuration


def test_from_settings(ls, local_root):
    from ml_backend.settings import Settings

    settings = Settings.from_env(
        {
            "LABEL_STUDIO_URL": ls.url,
            "LABEL_STUDIO_API_KEY": LEGACY,
            "ALLOWED_IMAGE_HOSTS": "images.example.com,*.cdn.example.org",
            "LOCAL_FILES_DOCUMENT_ROOT": str(local_root),
            "IMAGE_TIMEOUT": "3",
            "MAX_IMAGE_PIXELS": "1000",
        }
    )
    fetcher = ImageFetcher.from_settings(settings)
    assert fetcher.limits.timeout_s == 3.0 and fetcher.limits.max_pixels == 1000
    assert fetcher.is_allowed("http://x.cdn.example.org/a.png")
    assert_red(fetcher.fetch_image("/data/upload/1/x.png"))
    assert_red(fetcher.fetch_image("/data/local-files/?d=sub/a.png"))


def test_limits_default():
    assert FetchLimits() == FetchLimits(50 * 1024 * 1024, 100_000_000, 20.0)
    assert ImageFetcher(None, None).limits == FetchLimits()
