"""SimSiam domain pretraining of a CNN: trains, resumes, exports a loadable zoo entry."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from model_zoo.classifier.model import load_classifier
from model_zoo.pretrain.mae import PretrainError
from model_zoo.pretrain.simsiam import SimSiamConfig, is_cnn_base, pretrain_simsiam


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small timm CNN saved like a hub repo (random weights: speed, not quality)."""
    import timm
    from timm.models import save_for_hf

    folder = tmp_path_factory.mktemp("base") / "resnet"
    model = timm.create_model("resnet10t", pretrained=False, num_classes=4)
    save_for_hf(model, folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unlabeled")
    rng = np.random.default_rng(0)
    for i in range(10):
        pixels = (rng.random((80, 80, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _config(base, **kw):
    return SimSiamConfig(
        out="concrete-cnn",
        base=str(base),
        batch_size=4,
        image_size=64,
        hidden_dim=64,
        progress=False,
        device="cpu",
        **kw,
    )


def test_cnn_bases_take_simsiam_and_vits_stay_with_mae(base):
    assert is_cnn_base("efficientnet-lite0") and is_cnn_base(str(base))
    assert not is_cnn_base("vit-mae-base") and not is_cnn_base("scratch")


def test_pretraining_changes_the_backbone_and_exports_a_loadable_entry(base, images, tmp_path):
    result = pretrain_simsiam(images, _config(base, epochs=2), model_dir=tmp_path)
    assert result.images == 10 and result.skipped == 1 and result.steps == 4
    assert len(result.epoch_losses) == 2 and all(-1.0 <= v <= 1.0 for v in result.epoch_losses)
    assert all(v > 0 for v in result.representation_std)
    record = json.loads((result.entry_dir / "pretrain.json").read_text())
    assert record["method"].startswith("simsiam") and record["base"] == str(base)
    before = load_classifier(str(base), ["crack", "no_defect"], device="cpu")
    after = load_classifier("concrete-cnn", ["crack", "no_defect"], model_dir=tmp_path)
    assert after.classes == ["crack", "no_defect"] and not after.head_trained
    w0 = before.model.timm_model.conv1[0].weight
    w1 = after.model.timm_model.conv1[0].weight
    assert w0.shape == w1.shape and not torch.allclose(w0, w1)


def test_a_stopped_run_resumes_from_its_checkpoint(base, images, tmp_path):
    pretrain_simsiam(images, _config(base, epochs=1), model_dir=tmp_path)
    again = pretrain_simsiam(images, _config(base, epochs=3), model_dir=tmp_path)
    assert again.resumed_at_step == 2 and again.steps == 6
    assert len(again.epoch_losses) == 3


def test_a_checkpoint_of_another_base_or_a_planted_pickle_is_refused(
    base, images, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "pretrain" / "concrete-cnn" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)

    class Payload:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    ckpt.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(pickle.UnpicklingError):
        pretrain_simsiam(images, _config(base, epochs=1), model_dir=tmp_path)
    assert not (tmp_path / "PWNED").exists()
    torch.save({"base": "other", "model": {}, "optimizer": {}, "step": 1, "history": {}}, ckpt)
    with pytest.raises(PretrainError, match="--restart"):
        pretrain_simsiam(images, _config(base, epochs=1), model_dir=tmp_path)


def test_too_few_images_is_a_clear_error(base, tmp_path):
    (tmp_path / "one").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "one" / "a.png")
    with pytest.raises(PretrainError, match="readable images"):
        pretrain_simsiam(tmp_path / "one", _config(base), model_dir=tmp_path)


def _running_means(classifier):
    from model_zoo.classifier.adabn import batchnorm_layers

    return [layer.running_mean.clone() for layer in batchnorm_layers(classifier.model)]


def test_the_base_batchnorm_statistics_are_kept_unless_asked(base, images, tmp_path):
    """SimSiam trains in training mode, so every BatchNorm layer drifts towards the augmented
    views' statistics; by default the export puts the base's back (the weights stay trained)."""
    before = load_classifier(str(base), ["a", "b"], device="cpu")
    kept = pretrain_simsiam(images, _config(base, epochs=1), model_dir=tmp_path / "kept")
    learned = pretrain_simsiam(
        images,
        _config(base, epochs=1, learned_bn_statistics=True),
        model_dir=tmp_path / "learned",
    )
    load = lambda result: load_classifier(  # noqa: E731
        "concrete-cnn", ["a", "b"], model_dir=result.entry_dir.parent.parent
    )
    base_means, kept_model, learned_model = _running_means(before), load(kept), load(learned)
    kept_means, learned_means = _running_means(kept_model), _running_means(learned_model)
    assert len(kept_means) == len(learned_means) == len(base_means) > 0
    assert all(torch.equal(a, b) for a, b in zip(base_means, kept_means, strict=True))
    assert any(not torch.allclose(a, b) for a, b in zip(base_means, learned_means, strict=True))
    w0 = before.model.timm_model.conv1[0].weight
    assert not torch.allclose(w0, kept_model.model.timm_model.conv1[0].weight)
    record = json.loads((kept.entry_dir / "pretrain.json").read_text())
    assert "kept" in record["bn_statistics"]
