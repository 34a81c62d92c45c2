"""Fixtures for the integration tests: a real Label Studio and our backend as subprocesses.

Every test in this directory gets the ``integration`` marker (deselect with ``-m "not integration"``).

One Label Studio 1.23.2 server runs per test session (``label_studio``), started from the
``.venv-ls`` venv (``$LABEL_STUDIO_VENV`` overrides it). The first start on a fresh data dir takes
about 25 s (database migrations). Tokens: ``legacy_token`` (``Authorization: Token ...``) and
``personal_access_token`` (a JWT refresh token; the SDK exchanges it for Bearer access tokens).

Images served from local files: the server has ``LOCAL_FILES_DOCUMENT_ROOT`` set to the
``local_files_root`` folder. Label Studio serves ``/data/local-files/?d=<path relative to the
root>`` only for files covered by a Local Storage of the project, and the storage path must be a
*subfolder* of the root (the root itself is refused). So a test does::

    folder = local_files_root / "my-test"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "a.png")
    storage = label_studio.add_local_storage(project_id, folder)   # creates + syncs
    # -> one task per file, data {"image": "/data/local-files/?d=my-test/a.png"}

(or by hand: ``POST /api/storages/localfiles {"project": P, "path": "<abs folder>",
"use_blob_urls": true}`` then ``POST /api/storages/localfiles/<id>/sync``). Tasks may also be
imported directly with ``{"data": {"image": "/data/local-files/?d=my-test/a.png"}}`` once the
storage exists.

``tests/integration/backends.py`` starts our ML backend (gunicorn) on a free port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ml_backend.tools.local_label_studio import (
    LabelStudioNotInstalled,
    LocalLabelStudio,
    default_venv,
    install_hint,
)

INTEGRATION_DIR = Path(__file__).resolve().parent
REPO_ROOT = INTEGRATION_DIR.parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


# ---------------------------------------------------------------------------------- environment
@pytest.fixture(scope="session")
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables that keep subprocesses out of the home directory and offline."""
    root = tmp_path_factory.mktemp("subprocess-home")
    env = {
        "MPLCONFIGDIR": root / "matplotlib",
        "XDG_CACHE_HOME": root / "cache",
        "XDG_CONFIG_HOME": root / "config",
        "HF_HOME": root / "huggingface",
        "TORCH_HOME": root / "torch",
    }
    for path in env.values():
        path.mkdir(parents=True, exist_ok=True)
    out = {k: str(v) for k, v in env.items()}
    out.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    return out


# ---------------------------------------------------------------------------------- Label Studio
@pytest.fixture(scope="session")
def local_files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``LOCAL_FILES_DOCUMENT_ROOT`` of the session's Label Studio (see the module docstring)."""
    return tmp_path_factory.mktemp("local-files").resolve()


@pytest.fixture(scope="session")
def label_studio(
    tmp_path_factory: pytest.TempPathFactory, local_files_root: Path, isolated_env: dict[str, str]
) -> Iterator[LocalLabelStudio]:
    """The session's Label Studio server (started once, stopped at the end of the session)."""
    venv = default_venv()
    if not (venv / "bin" / "label-studio").exists():
        pytest.fail(install_hint(venv), pytrace=False)
    ls = LocalLabelStudio(
        data_dir=tmp_path_factory.mktemp("label-studio-data"),
        venv=venv,
        extra_env={
            "LOCAL_FILES_DOCUMENT_ROOT": str(local_files_root),
            "MPLCONFIGDIR": isolated_env["MPLCONFIGDIR"],
        },
    )
    try:
        ls.start(timeout=240)
    except LabelStudioNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield ls
    finally:
        ls.stop()


@pytest.fixture(scope="session")
def legacy_token(label_studio: LocalLabelStudio) -> str:
    """The admin's legacy API token (``Authorization: Token <it>``)."""
    return label_studio.legacy_token


@pytest.fixture(scope="session")
def personal_access_token(label_studio: LocalLabelStudio) -> str:
    """The admin's Personal Access Token (a JWT refresh token)."""
    return label_studio.personal_access_token()


@pytest.fixture(scope="session")
def ls_client_factory(label_studio: LocalLabelStudio) -> Callable[..., object]:
    """``factory(api_key=None)`` -> ``label_studio_sdk.client.LabelStudio``; default: legacy token."""
    from label_studio_sdk.client import LabelStudio

    def make(api_key: str | None = None) -> LabelStudio:
        return LabelStudio(base_url=label_studio.url, api_key=api_key or label_studio.legacy_token)

    return make
