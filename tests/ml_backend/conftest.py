from __future__ import annotations

from pathlib import Path

import pytest

from ml_backend.server.app import create_app
from ml_backend.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEFECTS_XML = (REPO / "label_config" / "defects.xml").read_text()


def temp_root_of_run(tmp_path: Path) -> Path:
    """pytest's temporary folder of this run (``.../pytest-N``): the tests' saved models live
    under it, outside each test's MODEL_DIR."""
    return next((p for p in tmp_path.parents if p.name.startswith("pytest-")), tmp_path)


def make_settings(tmp_path, **env) -> Settings:
    """Settings for a test; label configs may name models saved anywhere in pytest's temporary
    folders (ALLOWED_MODEL_DIRS), as an operator would list the folders of their models. The
    random tiny-vit keeps unit tests fast; integration tests use the default backbone."""
    base = {
        "MODEL_DIR": str(tmp_path / "models"),
        "DEVICE": "cpu",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_MODEL_DIRS": str(temp_root_of_run(Path(tmp_path))),
        "CLASSIFIER_MODEL": "tiny-vit",
    }
    base.update({k: str(v) for k, v in env.items()})
    return Settings.from_env(base)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("app"))
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def defects_xml() -> str:
    return DEFECTS_XML


@pytest.fixture(scope="module")
def crack_model(tmp_path_factory):
    """A saved classifier that calls every image 'crack' (its head's bias says so)."""
    import torch

    from model_zoo.classifier.model import load_classifier

    model = load_classifier("tiny-vit", ["crack", "rust", "no_defect"], device="cpu")
    with torch.no_grad():
        model.model.classifier.bias.copy_(torch.tensor([6.0, -6.0, -6.0]))
    return str(model.save(tmp_path_factory.mktemp("m") / "crack", version="crack-1"))


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory, trained_tiny):
    settings = make_settings(tmp_path_factory.mktemp("app"), CLASSIFIER_MODEL=trained_tiny)
    return create_app(settings)


@pytest.fixture
def trained_client(trained_app):
    return trained_app.test_client()
