"""SYNTHETIC_DIR: a training round mixes generated images into its minority choices."""

from __future__ import annotations

from ml_backend.jobs.scheduler import run_round
from tests.ml_backend.training.test_trainer import backend, fake_ls  # noqa: F401 - fixture
from tests.model_zoo.data.test_synthetic_mix import write_generated


def test_round_mixes_synthetic_images_into_minority_choices(tmp_path, fake_ls):  # noqa: F811
    rust = [t for t in fake_ls.tasks if t["is_labeled"] and "Rust" in str(t["annotations"])]
    for task in rust[2:]:  # Rust keeps 2 labels, Algae and No defect 8 each
        task["is_labeled"], task["annotations"] = False, []
    generated = write_generated(tmp_path / "gen", "rust", n=10, size=64)
    app, state = backend(tmp_path, SYNTHETIC_DIR=str(generated))
    result = run_round(state, "7")
    assert result["state"] == "succeeded" and result["examples"] == 18
    (detail,) = app.test_client().get("/versions?project=7").get_json()["details"]
    assert detail["synthetic_per_class"] == {"Rust": detail["synthetic_images"]}
    # up to the largest choice's training count: 8 labels, 2 held out -> 6; Rust has 2
    assert detail["synthetic_images"] == 6 - 2
    assert detail["label_count"] == 18  # real labels only
