"""The default backbone through the one loader: ``efficientnet-lite0`` as a zoo entry.

The entry is built once (converted from its pip package into ``MODEL_DIR/zoo/<name>/``, a
transformers ``TimmWrapper`` folder) and is then a plain local directory: loading, saving,
versions and the ImageNet head all go through :func:`load_classifier`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from model_zoo.classifier.model import load_classifier
from model_zoo.classifier.parts import after_blocks, blocks, head_module
from model_zoo.registry import ZOO, resolve

CATS = set(range(281, 286))
ESPRESSO = {967, 968}
LABELS = ["crack", "spalling", "no_defect"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def imagenet(model_dir):
    return load_classifier("efficientnet-lite0", model_dir=model_dir, device="cpu")


def test_the_entry_is_built_once_into_model_dir_with_its_licence(imagenet, model_dir):
    folder = model_dir / "zoo" / "efficientnet-lite0"
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert "Apache-2.0" in (folder / "LICENCE.txt").read_text()
    assert "Apache-2.0" in ZOO["efficientnet-lite0"].licence
    assert resolve("efficientnet-lite0", model_dir).kind == "local"
    assert imagenet.version.startswith("efficientnet-lite0-")


def test_the_imagenet_head_recognises_scikit_image_photos(imagenet):
    probs = imagenet.predict_proba(
        [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]
    )
    cat, coffee = (row.argsort()[::-1][:3].tolist() for row in probs)
    assert cat[0] in CATS and len(CATS.intersection(cat)) >= 2, cat
    assert coffee[0] in ESPRESSO, coffee
    assert imagenet.head_trained and len(imagenet.classes) == 1000


def test_defect_labels_get_a_fresh_head_on_the_pretrained_backbone(imagenet, model_dir):
    clf = load_classifier("efficientnet-lite0", LABELS, model_dir=model_dir, device="cpu")
    assert clf.classes == LABELS and not clf.head_trained
    assert head_module(clf.model).out_features == len(LABELS)
    theirs = clf.model.timm_model.conv_stem.weight
    assert torch.equal(theirs, imagenet.model.timm_model.conv_stem.weight)
    features = clf.embed([Image.fromarray(data.coffee())])
    assert features.shape == (1, 1280)
    direct = clf.logits(clf.preprocess([Image.fromarray(data.coffee())]))
    assert torch.allclose(clf.head_logits(torch.as_tensor(features)), direct, atol=1e-4)


def test_preprocessing_squashes_the_whole_image_without_a_centre_crop(imagenet):
    wide = Image.new("RGB", (400, 100), (255, 255, 255))
    wide.paste((0, 0, 0), (0, 0, 20, 100))  # a dark band at the left border
    pixels = imagenet.preprocess([wide])[0]
    assert pixels.shape == (3, 224, 224) and imagenet.input_size == 224
    assert pixels[:, :, :5].mean() < -0.9  # the border band is still in the input


def test_saved_fine_tuned_version_reloads_with_its_classes_and_outputs(model_dir, tmp_path):
    clf = load_classifier("efficientnet-lite0", LABELS, model_dir=model_dir, device="cpu")
    with torch.no_grad():
        head_module(clf.model).bias.copy_(torch.tensor([2.0, 0.0, -2.0]))
    out = clf.save(tmp_path / "v1", version="p1-v1")
    again = load_classifier(str(out), ["crack"], model_dir=model_dir, device="cpu")
    assert again.classes == LABELS and again.head_trained and again.version == "p1-v1"
    image = [Image.fromarray(data.coffee())]
    assert np.allclose(again.predict_proba(image), clf.predict_proba(image), atol=1e-5)
    assert json.loads((out / "fm_inspect.json").read_text())["base_model"] == "efficientnet-lite0"


def test_fine_tuning_opens_the_top_stages_and_the_head_convolution(model_dir):
    clf = load_classifier("efficientnet-lite0", LABELS, model_dir=model_dir, device="cpu")
    stages = blocks(clf.model)
    assert len(stages) == 7  # EfficientNet's stages, input side first
    names = {type(m).__name__ for m in after_blocks(clf.model)}
    assert {"Conv2d", "BatchNormAct2d"} <= names


def test_timm_hub_ids_resolve_to_the_hub_with_their_prefix_dropped():
    source = resolve("hf-hub:timm/convnext_tiny.fb_in22k")
    assert source.kind == "hub" and source.hub_id == "timm/convnext_tiny.fb_in22k"


def test_a_hub_id_offline_says_what_was_tried_and_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception) as raised:
        load_classifier("hf-hub:timm/convnext_tiny.fb_in22k", LABELS, model_dir=tmp_path)
    message = str(raised.value)
    assert "timm/convnext_tiny.fb_in22k" in message and "CLASSIFIER_MODEL" in message


def test_a_timm_format_local_directory_loads_through_the_same_loader(tmp_path):
    import timm
    from timm.models import save_for_hf

    model = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    save_for_hf(
        model, tmp_path / "resnet", model_config={"label_names": LABELS}, safe_serialization=True
    )
    clf = load_classifier(str(tmp_path / "resnet"), LABELS, device="cpu")
    assert clf.classes == LABELS
    probs = clf.predict_proba([Image.fromarray(data.coffee())])
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1.0, atol=1e-5)
    assert len(blocks(clf.model)) == 4  # ResNet's stages
