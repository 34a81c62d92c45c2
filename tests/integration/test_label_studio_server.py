"""The local Label Studio launcher against a real Label Studio 1.23.2 server."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from label_studio_sdk.core.api_error import ApiError
from PIL import Image

from ml_backend.tools.local_label_studio import (
    LabelStudioError,
    LabelStudioNotInstalled,
    LocalLabelStudio,
    find_free_port,
    install_hint,
)

LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="class" toName="image">
    <Choice value="Crack"/>
    <Choice value="Clean"/>
  </Choices>
</View>"""


def png_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (24, 16)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def create_project(ls: LocalLabelStudio, title: str | None = None) -> int:
    r = requests.post(
        f"{ls.url}/api/projects/",
        json={"title": title or f"t-{uuid.uuid4().hex[:8]}", "label_config": LABEL_CONFIG},
        headers=ls.auth_headers(),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def project_tasks(ls: LocalLabelStudio, project_id: int) -> list[dict]:
    r = requests.get(
        f"{ls.url}/api/tasks/",
        params={"project": project_id, "page_size": 100},
        headers=ls.auth_headers(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def test_server_is_healthy_on_loopback(label_studio: LocalLabelStudio) -> None:
    assert label_studio.is_running()
    assert label_studio.url == f"http://127.0.0.1:{label_studio.port}"
    r = requests.get(f"{label_studio.url}/health", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "UP"}
    r = requests.get(f"{label_studio.url}/api/version", timeout=10)
    assert r.json()["release"] == "1.23.2"
    # Everything stays in the data dir: the database and the log.
    assert (label_studio.data_dir / "label_studio.sqlite3").exists()
    assert "Starting development server at" in label_studio.log_text()


def test_legacy_token_works_with_sdk(ls_client_factory, legacy_token: str) -> None:
    client = ls_client_factory(legacy_token)
    project = client.projects.create(title="legacy-sdk", label_config=LABEL_CONFIG)
    assert project.id is not None
    ids = [p.id for p in client.projects.list()]
    assert project.id in ids
    me = client.users.whoami()
    assert me.email == "admin@fm-inspect.local"


def test_personal_access_token_works_with_sdk(
    label_studio: LocalLabelStudio, ls_client_factory, personal_access_token: str
) -> None:
    # A PAT is a JWT refresh token; the launcher caches it.
    assert personal_access_token.count(".") == 2
    assert label_studio.personal_access_token() == personal_access_token
    client = ls_client_factory(personal_access_token)
    project = client.projects.create(title="pat-sdk", label_config=LABEL_CONFIG)
    assert project.id in [p.id for p in client.projects.list()]
    # By hand: exchange it for an access token and use it as Bearer.
    r = requests.post(
        f"{label_studio.url}/api/token/refresh/",
        json={"refresh": personal_access_token},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    access = r.json()["access"]
    r = requests.get(
        f"{label_studio.url}/api/projects/{project.id}/",
        headers={"Authorization": f"Bearer {access}"},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.json()["title"] == "pat-sdk"


def test_personal_access_token_is_rotated_when_its_cache_is_lost(
    label_studio: LocalLabelStudio, tmp_path: Path
) -> None:
    """LS keeps one live PAT per user (409 on a second POST /api/token/) and shows it in full only
    once: a launcher that lost its cached PAT revokes the old one and creates a new one.

    Uses its own user so that the session's admin PAT stays valid.
    """
    email, password = f"pat-{uuid.uuid4().hex[:6]}@fm-inspect.local", "Rotate-me-1234"
    label_studio.create_user(email, password)

    def as_user(name: str) -> LocalLabelStudio:  # not started: drives the session's server
        return replace(label_studio, username=email, password=password, data_dir=tmp_path / name)

    first = as_user("a").personal_access_token()
    assert as_user("a").personal_access_token() == first  # cached in data_dir
    second = as_user("b").personal_access_token()  # no cache there: 409, revoke, create
    assert second != first
    refresh = f"{label_studio.url}/api/token/refresh/"
    assert requests.post(refresh, json={"refresh": second}, timeout=30).status_code == 200
    assert requests.post(refresh, json={"refresh": first}, timeout=30).status_code == 401
    access = requests.post(refresh, json={"refresh": second}, timeout=30).json()["access"]
    me = requests.get(
        f"{label_studio.url}/api/current-user/whoami",
        headers={"Authorization": f"Bearer {access}"},
        timeout=30,
    )
    assert me.json()["email"] == email
    with pytest.raises(LabelStudioError, match="login"):
        replace(as_user("c"), password="wrong-password").personal_access_token()


def test_wrong_token_gets_401(label_studio: LocalLabelStudio, ls_client_factory) -> None:
    url = f"{label_studio.url}/api/projects/"
    assert requests.get(url, timeout=30).status_code == 401
    r = requests.get(url, headers={"Authorization": "Token not-the-token-123"}, timeout=30)
    assert r.status_code == 401
    r = requests.get(url, headers={"Authorization": "Bearer not.a.jwt"}, timeout=30)
    assert r.status_code == 401
    with pytest.raises(ApiError) as err:
        list(ls_client_factory("not-the-token-123").projects.list())
    assert err.value.status_code == 401


def test_upload_png_and_download_it_with_a_token(label_studio: LocalLabelStudio) -> None:
    project_id = create_project(label_studio)
    content = png_bytes()
    r = requests.post(
        f"{label_studio.url}/api/projects/{project_id}/import",
        params={"return_task_ids": "true"},
        files={"file": ("crack.png", content, "image/png")},
        headers=label_studio.auth_headers(),
        timeout=60,
    )
    assert r.status_code == 201, r.text
    assert r.json()["task_count"] == 1
    (task,) = project_tasks(label_studio, project_id)
    image_url = task["data"]["image"]
    assert image_url.startswith(f"/data/upload/{project_id}/")
    assert image_url.endswith("crack.png")

    url = label_studio.url + image_url
    with_token = requests.get(url, headers=label_studio.auth_headers(), timeout=30)
    assert with_token.status_code == 200
    assert with_token.content == content
    bearer = {"Authorization": f"Bearer {label_studio.access_token()}"}
    assert requests.get(url, headers=bearer, timeout=30).content == content
    without = requests.get(url, timeout=30, allow_redirects=False)
    assert without.status_code == 401
    assert without.content != content


def test_local_files_are_served_to_token_holders(
    label_studio: LocalLabelStudio, local_files_root: Path
) -> None:
    folder = local_files_root / "bridge-deck"
    folder.mkdir()
    content = png_bytes((10, 120, 10))
    (folder / "span 1.png").write_bytes(content)
    (folder / "notes.txt").write_text("not an image")
    project_id = create_project(label_studio)

    storage = label_studio.add_local_storage(project_id, folder, regex_filter=r".*\.png$")
    assert storage["project"] == project_id
    (task,) = project_tasks(label_studio, project_id)
    assert task["data"]["image"] == "/data/local-files/?d=bridge-deck/span%201.png"

    url = label_studio.url + task["data"]["image"]
    r = requests.get(url, headers=label_studio.auth_headers(), timeout=30)
    assert r.status_code == 200
    assert r.content == content
    assert requests.get(url, timeout=30, allow_redirects=False).status_code == 401
    # Files outside every storage of the server are refused even with a token.
    (local_files_root / "secret.png").write_bytes(content)
    r = requests.get(
        f"{label_studio.url}/data/local-files/?d=secret.png",
        headers=label_studio.auth_headers(),
        timeout=30,
    )
    assert r.status_code in (403, 404)


def test_missing_venv_fails_with_install_hint(tmp_path: Path) -> None:
    ls = LocalLabelStudio(data_dir=tmp_path / "ls", venv=tmp_path / "no-venv")
    with pytest.raises(LabelStudioNotInstalled, match=r"make \.venv-ls"):
        ls.start()
    assert not ls.is_running()
    ls.stop()  # idempotent
    assert "requirements-label-studio.txt" in install_hint()


def test_find_free_port_and_env(tmp_path: Path) -> None:
    port = find_free_port()
    assert 1024 < port < 65536
    ls = LocalLabelStudio(
        data_dir=tmp_path / "ls", extra_env={"LOCAL_FILES_DOCUMENT_ROOT": str(tmp_path)}
    )
    env = ls.environment()
    assert env["LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(ls.data_dir)
    assert env["SSRF_PROTECTION_ENABLED"] == "false"
    assert env["ML_BLOCK_LOCAL_IP"] == "false"
    assert env["XDG_CACHE_HOME"].startswith(str(ls.data_dir))
    assert ls.log_path == ls.data_dir / "label-studio.log"
    with pytest.raises(ValueError):
        LocalLabelStudio(data_dir=tmp_path, legacy_token="short")
