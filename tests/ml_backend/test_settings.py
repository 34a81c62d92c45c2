import re
from pathlib import Path

import pytest

from ml_backend.settings import SETTINGS, Settings, SettingsError


def test_defaults():
    s = Settings.from_env({})
    assert s.port == 9090 and s.workers == 1 and s.threads == 8
    assert s.device == "auto" and s.classifier_model == "tiny-vit"
    assert not s.basic_auth_enabled
    assert s.allowed_image_hosts == ()


def test_fallback_names_and_parsing():
    s = Settings.from_env(
        {
            "LABEL_STUDIO_HOST": "http://ls:8080/",
            "LABEL_STUDIO_ACCESS_TOKEN": "abc123",
            "ALLOWED_IMAGE_HOSTS": " Images.example.com, *.cdn.net ,",
            "BASIC_AUTH_USER": "u",
            "BASIC_AUTH_PASS": "p",
        }
    )
    assert s.label_studio_url == "http://ls:8080"
    assert s.api_key == "abc123"
    assert s.allowed_image_hosts == ("images.example.com", "*.cdn.net")
    assert s.basic_auth_enabled


@pytest.mark.parametrize(
    "env, name",
    [
        ({"PORT": "nine"}, "PORT"),
        ({"WORKERS": "0"}, "WORKERS"),
        ({"SCORE_THRESHOLD": "2"}, "SCORE_THRESHOLD"),
        ({"LABEL_STUDIO_URL": "localhost:8080"}, "LABEL_STUDIO_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_docs_document_every_setting():
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)`", page, flags=re.M))
    missing = set(SETTINGS) - documented
    assert not missing, f"the table in docs/configuration.md lacks {sorted(missing)}"
