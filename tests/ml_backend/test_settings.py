import re
from pathlib import Path

import pytest

from ml_backend.__main__ import main
from ml_backend.settings import (
    SETTINGS,
    TABLE_END,
    Settings,
    SettingsError,
    settings_table,
    with_settings_table,
)


def test_defaults():
    s = Settings.from_env({})
    assert s.port == 9090 and s.workers == 1 and s.threads == 32
    assert s.device == "auto" and s.classifier_model == "efficientnet-lite0"
    assert not s.basic_auth_enabled
    # without basic auth it listens on loopback only; with it, on every interface
    assert s.bind_host == "127.0.0.1" and not s.is_open
    with_auth = Settings.from_env({"BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "p"})
    assert with_auth.bind_host == "0.0.0.0" and not with_auth.is_open
    assert Settings.from_env({"HOST": "0.0.0.0"}).is_open
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


def test_every_field_comes_from_one_declaration():
    fields = [f for f in Settings.__dataclass_fields__]
    assert sorted(fields) == sorted(s.field for s in SETTINGS.values())
    assert all(s.concern for s in SETTINGS.values()), "every setting belongs to a concern"


def test_the_table_has_every_setting_under_its_concern():
    table = settings_table()
    for s in SETTINGS.values():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{s.env}`"))
        section = table[: table.index(row)].rsplit("### ", 1)[1].splitlines()[0]
        assert section == s.concern


def test_settings_table_command_updates_a_page(tmp_path, capsys):
    page = tmp_path / "configuration.md"
    page.write_text(
        f"# Configuration\n<!-- settings-table:start -->\nstale row\n{TABLE_END}\nafter\n"
    )
    assert main(["settings-table", "--write", str(page)]) == 0
    text = page.read_text()
    assert "stale row" not in text and text.endswith(f"{TABLE_END}\nafter\n")
    assert settings_table() in text and with_settings_table(text) == text
    assert main(["settings-table"]) == 0
    assert capsys.readouterr().out.endswith(settings_table())


def test_the_configuration_page_has_the_current_table():
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert with_settings_table(text) == text, (
        "docs/configuration.md has a stale settings table: run "
        "`python -m ml_backend settings-table --write docs/configuration.md`"
    )
