import json

from ml_backend.__main__ import main
from model_zoo.storage.model_store import ModelStore


def test_check_prints_health_with_the_default_pretrained_backbone(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("DEVICE", "cpu")
    assert main(["check"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert health["status"] == "UP" and health["model_version"].startswith("no trained version")
    (loaded,) = health["models"]
    assert loaded["version"].startswith("efficientnet-lite0-") and not loaded["head_trained"]
    assert (tmp_path / "zoo" / "efficientnet-lite0" / "model.safetensors").is_file()


def test_check_reports_a_missing_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("CLASSIFIER_MODEL", "dinov2-small")
    assert main(["check"]) == 1
    assert "dinov2-small" in capsys.readouterr().out


def test_bad_setting_exits_2_with_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("PORT", "http")
    assert main(["check"]) == 2
    assert "PORT" in capsys.readouterr().err


def test_versions_and_rollback(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    store = ModelStore(tmp_path / "store")
    for version in ("p3-v1", "p3-v2"):
        store.add_version(
            "project-3", version, lambda d: (d / "w").write_text("x"), {"label_count": 4}
        )
    assert main(["versions", "--project", "3"]) == 0
    out = capsys.readouterr().out
    assert "p3-v1" in out and "* project-3" in out and "p3-v2" in out.splitlines()[-1]
    assert main(["rollback", "--project", "3", "--version", "p3-v1"]) == 0
    assert store.live_version("project-3") == "p3-v1"
    assert main(["rollback", "--project", "3", "--version", "p3-v7"]) == 1
    assert "p3-v7" in capsys.readouterr().err
