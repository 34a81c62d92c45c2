"""``eval-masks`` end to end on a tiny synthetic set, and its refusals of unusable folders."""

from __future__ import annotations

import json

import pytest
import torch

from model_zoo.commands.cli import main
from model_zoo.data.synth import generate_dataset
from model_zoo.masks.data import MaskDataError


def test_eval_masks_scores_every_source_kind_and_writes_the_schema(tmp_path, capsys):
    torch.set_num_threads(1)
    generate_dataset(tmp_path / "data", n=40, seed=0, classes=["crack", "no_defect"])
    report_path = tmp_path / "masks.json"
    code = main(
        ["eval-masks", "--data", str(tmp_path / "data"), "--json", str(report_path),
         "--corrected", "4", "--model", "tiny-vit", "--epochs", "1", "--encoder", "tiny-random",
         "--input-size", "64", "--seg-epochs", "1", "--weak-epochs", "1",
         "--plot", str(tmp_path / "bars.png")]
    )  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text())
    results = report["results"]
    assert {"whole-image", "centre-box", "intensity", "dark", "cam", "corrected-4"} <= set(results)
    assert "weak" in results or report["training"]["weak"]["status"] == "unusable"
    for name, row in results.items():
        assert row["kind"] in {"baseline", "cam", "weak", "corrected"}
        assert row["corrected"] == (4 if name == "corrected-4" else None)
        for key in ("iou", "pooled_iou", "f1_tol2", "accepted"):
            assert 0.0 <= row["overall"][key] <= 1.0
        assert set(row["per_class"]) == {"crack"}
    assert results["whole-image"]["overall"]["recall"] == pytest.approx(1.0)
    assert report["split"]["test_defect_images"] == results["cam"]["overall"]["images"] > 0
    assert report["summary"]["best_baseline"] in results
    assert (tmp_path / "bars.png").is_file()
    assert "corrected-4" in capsys.readouterr().out


def test_a_folder_without_masks_is_refused_with_what_is_missing(tmp_path):
    generate_dataset(tmp_path / "data", n=12, seed=0, classes=["crack", "no_defect"])
    for mask in (tmp_path / "data" / "masks").rglob("*.png"):
        mask.unlink()
    with pytest.raises(MaskDataError, match="no defect class with masks"):
        main(["eval-masks", "--data", str(tmp_path / "data"), "--json", str(tmp_path / "x.json")])


def test_epochs_0_uses_a_fine_tuned_classifier_as_it_is_and_refuses_an_untrained_one(tmp_path):
    torch.set_num_threads(1)
    generate_dataset(tmp_path / "data", n=24, seed=0, classes=["crack", "no_defect"])
    common = ["--data", str(tmp_path / "data"), "--sources", "cam", "--corrected", ""]
    first = ["eval-masks", *common, "--json", str(tmp_path / "a.json"), "--model", "tiny-vit"]
    assert main([*first, "--epochs", "1", "--save-models", str(tmp_path / "m")]) == 0
    again = ["eval-masks", *common, "--json", str(tmp_path / "b.json"), "--epochs", "0"]
    assert main([*again, "--model", str(tmp_path / "m" / "classifier")]) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["classifier"]["fine_tuned_here"] and not b["classifier"]["fine_tuned_here"]
    assert b["classifier"]["seconds"] == 0
    assert b["classifier"]["test_accuracy"] == pytest.approx(a["classifier"]["test_accuracy"])
    assert b["results"]["cam"]["overall"] == pytest.approx(a["results"]["cam"]["overall"])
    with pytest.raises(SystemExit, match="no trained head"):
        main([*again, "--model", "tiny-vit"])


def test_the_weak_source_trains_with_the_backend_weak_recipe_unless_told(monkeypatch):
    from types import SimpleNamespace

    from model_zoo.commands import eval_masks_sources as sources
    from model_zoo.segmentation import weak
    from model_zoo.segmentation.weak import WeakConfig

    seen = []
    monkeypatch.setattr(
        weak, "train_weak_segmentation", lambda c, e, d, config: seen.append(config) or (None, {})
    )
    args = SimpleNamespace(weak_images=0, weak_epochs=0, weak_rounds=0, seed=0, encoder="x",
                           input_size=64, crop_size=0, loss="", save_models="")  # fmt: skip
    context = sources.Context(args, ["crack", "no_defect"], ["crack"], [], None, _classifier=1)
    sources.train_weak(context)
    args.weak_epochs = 3
    sources.train_weak(context)
    default = WeakConfig().segmentation
    assert seen[0].segmentation.epochs == default.epochs != 30
    assert seen[0].segmentation.holdout_fraction == 0.0 and seen[0].segmentation.input_size == 64
    assert seen[1].segmentation.epochs == 3


def test_weak_model_scores_a_saved_segmentation_model_as_it_is(tmp_path):
    import numpy as np
    from PIL import Image

    from model_zoo.segmentation import SegmentationSample, SegTrainConfig, train_segmentation

    torch.set_num_threads(1)
    generate_dataset(tmp_path / "data", n=24, seed=0, classes=["crack", "no_defect"])
    rng = np.random.default_rng(0)
    samples = []
    for i in range(10):
        image = rng.normal(120, 10, (64, 64, 3))
        mask = np.zeros((64, 64), bool)
        mask[20 + i : 26 + i, 8:56] = True
        image[mask] = 40
        samples.append(SegmentationSample(Image.fromarray(image.clip(0, 255).astype("uint8")),
                                          {"crack": mask}, key=str(i)))  # fmt: skip
    config = SegTrainConfig(encoder="tiny-random", pretrained=False, epochs=1, device="cpu")
    train_segmentation(samples, ["crack"], config).save(tmp_path / "weak")
    report = tmp_path / "r.json"
    code = main(
        ["eval-masks", "--data", str(tmp_path / "data"), "--json", str(report), "--sources",
         "weak", "--corrected", "", "--model", "tiny-vit", "--epochs", "1",
         "--weak-model", str(tmp_path / "weak")]
    )  # fmt: skip
    assert code == 0
    report = json.loads(report.read_text())
    assert report["training"]["weak"]["status"] == "loaded"
    assert "--weak-model" in report["command"]
    assert report["results"]["weak"]["kind"] == "weak"
    assert report["results"]["weak"]["overall"]["images"] == report["split"]["test_defect_images"]
