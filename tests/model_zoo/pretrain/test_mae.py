"""MAE pretraining: bad input, checkpoints and resume, the zoo entry, the classifier, serving."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from model_zoo.commands.cli import main as zoo
from model_zoo.pretrain import mae as pt
from model_zoo.pretrain.configs import encoder_config
from model_zoo.registry import resolve

TINY = dict(preset="tiny", epochs=2, batch_size=4, checkpoint_every=2, progress=False)


def _write_folder(root):
    """10 images of mixed sizes, modes and formats (one in a sub-folder), an unreadable
    '.png', a text file and a hidden file."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    modes = ["RGB", "L", "RGBA", "P", "I;16"]
    for i in range(10):
        h, w = 30 + 9 * i, 70 - 4 * i
        array = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(array)
        mode = modes[i % len(modes)]
        if mode == "I;16":
            image = Image.fromarray(array[..., 0].astype(np.uint16) * 200)
        else:
            image = image.convert(mode)
        folder = root / "sub" if i == 3 else root
        suffix = ".jpg" if mode in ("RGB", "L") and i % 2 else ".png"
        image.save(folder / f"img{i}{suffix}")
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"ignored")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("unlabeled") / "images")


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """One uninterrupted tiny run: (model_dir, result)."""
    model_dir = tmp_path_factory.mktemp("models")
    result = pt.pretrain(folder, pt.PretrainConfig(out="concrete-a", **TINY), model_dir=model_dir)
    return model_dir, result


def _encoder_state(entry_dir):
    from transformers import ViTModel

    return ViTModel.from_pretrained(entry_dir, add_pooling_layer=False).state_dict()


def test_scan_and_read_skip_with_a_count(folder, trained):
    paths, other = pt.scan_images(folder)
    assert len(paths) == 11 and other == 1  # 10 images + broken.png; notes.txt; hidden ignored
    pixels, bad = pt.load_images(paths, 20, progress=False)
    assert pixels.shape == (10, 3, 20, 20) and pixels.dtype == torch.uint8
    assert [p.name for p in bad] == ["broken.png"]
    _, result = trained
    assert result.images == 10 and result.skipped == 2


def test_entry_layout_and_metadata(trained):
    model_dir, result = trained
    entry = model_dir / "zoo" / "concrete-a"
    assert result.entry_dir == entry
    for name in ["config.json", "model.safetensors", "preprocessor_config.json", "mae/config.json"]:
        assert (entry / name).is_file(), name
    info = json.loads((entry / pt.ENTRY_FILE).read_text())
    assert info["source_images"] == 10 and info["epochs"] == 2 and info["mask_ratio"] == 0.75
    assert info["base"] == "scratch" and len(info["epoch_losses"]) == 2
    assert json.loads((entry / "config.json").read_text())["model_type"] == "vit"
    with Image.open(entry / "reconstruction.png") as im:  # 4 rows (images) x 4 columns
        assert im.width == 4 * im.height // 4
    assert not (model_dir / "pretrain" / "concrete-a" / pt.CHECKPOINT).exists()
    assert resolve("concrete-a", model_dir).kind == "local"
    with pytest.raises(KeyError):
        resolve("concrete-a", model_dir / "elsewhere")


def test_kill_and_resume_gives_the_same_model(folder, trained, tmp_path):
    model_dir, _ = trained
    other_dir = tmp_path / "models"
    config = pt.PretrainConfig(out="concrete-a", **TINY)
    # 10 images, batch 4 -> 3 steps per epoch; checkpoints at steps 2, 3 (epoch end), 4, 6.

    def crash(step, loss):
        if step == 5:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        pt.pretrain(folder, config, model_dir=other_dir, on_step=crash)
    saved = torch.load(other_dir / "pretrain" / "concrete-a" / pt.CHECKPOINT, weights_only=True)
    assert saved["step"] == 4  # mid-epoch checkpoint
    assert not (other_dir / "zoo" / "concrete-a").exists()

    result = pt.pretrain(folder, config, model_dir=other_dir)
    assert result.resumed_at_step == 4 and result.steps == 6
    resumed = _encoder_state(result.entry_dir)
    straight = _encoder_state(model_dir / "zoo" / "concrete-a")
    for key, value in straight.items():
        assert torch.allclose(value, resumed[key], atol=1e-6), key


def test_ctrl_c_writes_a_checkpoint_and_settings_must_match(folder, tmp_path):
    config = pt.PretrainConfig(out="x", **TINY)

    def interrupt(step, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(folder, config, model_dir=tmp_path, on_step=interrupt)
    ckpt = tmp_path / "pretrain" / "x" / pt.CHECKPOINT
    assert torch.load(ckpt, weights_only=True)["step"] == 1
    changed = pt.PretrainConfig(out="x", **{**TINY, "epochs": 3})
    with pytest.raises(pt.PretrainError, match="epochs 2 -> 3"):
        pt.pretrain(folder, changed, model_dir=tmp_path)


class _Payload:
    """Pickled, it would create ``marker`` when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_checkpoint_never_runs(folder, tmp_path):
    config = pt.PretrainConfig(out="planted", **TINY)
    ckpt = tmp_path / "pretrain" / "planted" / pt.CHECKPOINT
    ckpt.parent.mkdir(parents=True)
    marker = tmp_path / "payload-ran"
    torch.save({"step": 1, "payload": _Payload(marker)}, ckpt)
    with pytest.raises(pt.PretrainError, match="not a checkpoint this program wrote"):
        pt.pretrain(folder, config, model_dir=tmp_path)
    assert not marker.exists()


def test_classifier_loads_the_entry_by_name_without_masking(trained):
    from transformers import ViTForImageClassification

    from model_zoo.classifier.model import load_classifier

    model_dir, result = trained
    _, info = ViTForImageClassification.from_pretrained(
        result.entry_dir, num_labels=3, output_loading_info=True
    )
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]

    clf = load_classifier("concrete-a", ["crack", "rust", "algae"], model_dir=model_dir)
    assert isinstance(clf.model, ViTForImageClassification) and not clf.head_trained
    assert clf.version.startswith("concrete-a-")
    encoder = _encoder_state(result.entry_dir)
    for key, value in clf.model.vit.state_dict().items():
        assert torch.equal(value, encoder[key]), key
    images = [Image.new("RGB", (50, 40), (120, 110, 100)), Image.new("L", (30, 60), 90)]
    first, second = clf.predict_proba(images), clf.predict_proba(images)
    np.testing.assert_array_equal(first, second)  # masking would make these differ
    assert first.shape == (2, 3)


def test_mae_checkpoint_directory_loads_as_unmasked_vit(trained):
    from transformers import ViTForImageClassification

    from model_zoo.classifier.model import load_classifier

    _, result = trained
    mae_dir = result.entry_dir / "mae"
    assert json.loads((mae_dir / "config.json").read_text())["model_type"] == "vit_mae"
    clf = load_classifier(str(mae_dir), ["a", "b"])
    assert isinstance(clf.model, ViTForImageClassification)
    encoder = _encoder_state(result.entry_dir)
    for key, value in clf.model.vit.state_dict().items():
        assert torch.equal(value, encoder[key]), key
    image = [Image.new("RGB", (64, 64), (10, 200, 30))]
    np.testing.assert_array_equal(clf.predict_proba(image), clf.predict_proba(image))


def test_hierarchical_continuation_from_an_entry(folder, trained):
    model_dir, result = trained
    cont = pt.pretrain(
        folder,
        pt.PretrainConfig(out="concrete-b", base="concrete-a", **{**TINY, "epochs": 1}),
        model_dir=model_dir,
    )
    info = json.loads((cont.entry_dir / pt.ENTRY_FILE).read_text())
    assert info["base"] == "concrete-a" and info["preset"] is None
    before, after = _encoder_state(result.entry_dir), _encoder_state(cont.entry_dir)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained on


def test_served_through_the_backend(trained):
    from ml_backend.server.app import create_app
    from ml_backend.settings import Settings
    from tests.images import data_url, random_image

    model_dir, _ = trained
    settings = Settings.from_env(
        {"MODEL_DIR": str(model_dir), "DEVICE": "cpu", "CLASSIFIER_MODEL": "concrete-a"}
    )
    client = create_app(settings).test_client()
    health = client.get("/health").get_json()
    (loaded,) = health["models"]
    assert loaded["version"].startswith("concrete-a-") and not loaded["head_trained"]
    xml = (
        '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
        '<Choice value="Crack"/><Choice value="Rust"/></Choices></View>'
    )
    tasks = [{"id": 1, "data": {"image": data_url(random_image(seed=1))}}]
    body = client.post("/predict", json={"tasks": tasks, "label_config": xml}).get_json()
    # a pretrained backbone without a trained head pre-labels nothing until the first round
    assert body["results"] == [[]] and body["note"].startswith("no trained version yet")


def test_default_entry_is_built_on_first_use_then_cached(tmp_path, monkeypatch):
    from model_zoo.classifier.model import load_classifier

    tiny = dict(n_images=16, synth_size=32, synth_seed=3, epochs=1, batch_size=8, preset="tiny")
    monkeypatch.setattr(pt, "DEFAULT_BUILD", {**pt.DEFAULT_BUILD, **tiny})
    source = resolve(pt.DEFAULT_ENTRY, tmp_path)
    assert source.kind == "build" and source.path == tmp_path / "zoo" / pt.DEFAULT_ENTRY

    clf = load_classifier(pt.DEFAULT_ENTRY, ["crack", "no_defect"], model_dir=tmp_path)
    info = json.loads((source.path / pt.ENTRY_FILE).read_text())
    assert info["source_images"] == 16 and clf.input_size == 32
    assert resolve(pt.DEFAULT_ENTRY, tmp_path).kind == "local"
    assert not (tmp_path / "pretrain" / pt.DEFAULT_ENTRY).exists()  # work files cleaned up

    def no_rebuild(*_):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(pt, "build_default", no_rebuild)
    again = load_classifier(pt.DEFAULT_ENTRY, ["crack", "no_defect"], model_dir=tmp_path)
    assert again.version == clf.version


def test_random_counterpart_has_the_default_architecture():
    from model_zoo.classifier.model import load_classifier

    clf = load_classifier("random-vit-small", ["a", "b"])
    config = encoder_config("small")
    assert clf.model.config.hidden_size == config.hidden_size
    assert clf.model.config.image_size == config.image_size


@pytest.mark.parametrize(
    ("setup", "extra", "words"),
    [
        ("empty", [], "no images under"),
        ("missing", [], "does not exist"),
        ("unreadable", [], "none of the 2 image files"),
        ("ok", ["--project", "7"], "export-images --project 7"),
        ("ok", ["--from", "dinov2-small"], "cannot load"),
        ("ok", ["--from", "tiny-convnext"], "not a ViT"),
        ("ok", ["--mask-ratio", "1.5"], "mask-ratio"),
        ("ok", ["--out", "../escape"], "plain name"),
        ("ok", ["--out", "vit-base"], "built-in zoo name"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys, setup, extra, words):
    images = tmp_path / "images"
    if setup != "missing":
        images.mkdir()
    if setup == "unreadable":
        (images / "a.png").write_bytes(b"garbage")
        (images / "b.jpg").write_bytes(b"")
    if setup == "ok":
        Image.new("RGB", (40, 40)).save(images / "a.png")
    argv = ["pretrain", "--preset", "tiny", "--epochs", "1", "--quiet"]
    argv += ["--model-dir", str(tmp_path / "models")]
    if "--project" in extra:
        argv += extra
    else:
        argv += ["--images", str(images)] + (extra if "--out" in extra else ["--out", "x", *extra])
    code = zoo(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert words in err and "Traceback" not in err


def test_cli_resumes_and_refuses_to_overwrite(folder, tmp_path, capsys):
    argv = ["pretrain", "--images", str(folder), "--out", "c", "--preset", "tiny", "--quiet"]
    argv += ["--epochs", "1", "--batch", "4", "--model-dir", str(tmp_path)]
    assert zoo(argv) == 0
    out = capsys.readouterr().out
    assert "on 10 images (2 skipped)" in out
    assert zoo(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert zoo([*argv, "--restart"]) == 0
