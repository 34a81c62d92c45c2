import threading
import time

import numpy as np
import pytest
import torch

from model_zoo.cam.engine import forward_with_cams
from model_zoo.cam.inputs import cam_input
from model_zoo.cam.layers import cam_layers, vit_reshape_transform
from model_zoo.cam.methods import CAM_METHODS, cam_method
from model_zoo.classifier.model import load_classifier
from tests.images import random_image

MODELS = ["tiny-vit", "tiny-convnext"]


@pytest.fixture(scope="module", params=MODELS)
def classifier(request):
    return load_classifier(request.param, ["crack", "rust", "no_defect"], device="cpu")


def _pixels(classifier, seeds=(1, 2)):
    sizes = [(90, 70), (40, 60), (64, 64)]
    images = [random_image(*sizes[i % 3], seed=s) for i, s in enumerate(seeds)]
    return cam_input(classifier, images)


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_every_method_gives_one_normalised_map_per_pair(classifier, method):
    x = _pixels(classifier)
    result = forward_with_cams(classifier, x, lambda _: [(0, 0), (1, 1)], method=method)
    side = x.shape[-1]
    assert result.maps.shape == (2, side, side)
    assert np.isfinite(result.maps).all()
    assert result.maps.min() >= 0.0 and result.maps.max() <= 1.0 + 1e-6
    assert any(m.max() > 0.5 for m in result.maps)  # normalised maps reach their maximum


def test_the_pass_gives_the_bare_forward_logits_and_runs_the_model_once(classifier):
    x = _pixels(classifier)
    calls = []
    hook = classifier.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        result = forward_with_cams(classifier, x, lambda _: [(0, 0), (0, 2), (1, 1)])
    finally:
        hook.remove()
    assert len(calls) == 1
    torch.testing.assert_close(result.logits, classifier.logits(x), atol=1e-4, rtol=1e-4)


def test_choose_sees_the_logits_and_no_pair_means_no_backward(classifier):
    x = _pixels(classifier)
    seen = []
    result = forward_with_cams(classifier, x, lambda logits: seen.append(logits) or [])
    assert seen and seen[0].shape == (2, 3)
    assert result.pairs == [] and result.maps.shape[0] == 0


def test_gradients_stop_at_the_target_layer(classifier):
    """Nothing below the target layer takes part in the backward pass (no input gradient)."""
    layers = cam_layers(classifier, "last")
    first = next(m for m in classifier.model.modules() if isinstance(m, torch.nn.Conv2d))
    below, above = [], []
    h1 = first.register_full_backward_hook(lambda *a: below.append(1))
    h2 = layers.layers[0].register_forward_hook(lambda m, i, o: above.append(o))
    try:
        forward_with_cams(classifier, _pixels(classifier), lambda _: [(0, 1)])
    finally:
        h1.remove()
        h2.remove()
    assert below == []
    assert all(not p.requires_grad or p.grad is None for p in classifier.model.parameters())


@pytest.mark.parametrize("layer_set", ["last", "multi"])
def test_all_classes_of_an_image_in_one_pass_match_one_class_at_a_time(classifier, layer_set):
    x = _pixels(classifier)
    pairs = [(0, 0), (0, 1), (0, 2), (1, 2)]
    together = forward_with_cams(classifier, x, lambda _: pairs, "gradcam", layer_set).maps
    for k, pair in enumerate(pairs):
        alone = forward_with_cams(classifier, x, lambda _, p=pair: [p], "gradcam", layer_set)
        np.testing.assert_allclose(together[k], alone.maps[0], atol=1e-4)
    assert not np.allclose(together[0], together[1])  # the class changes the map


def test_layer_sets(classifier):
    last, multi = cam_layers(classifier, "last"), cam_layers(classifier, "multi")
    assert len(last.layers) == 1 and len(multi.layers) >= 2
    assert multi.layers[-1] is last.layers[-1]
    with pytest.raises(ValueError, match="last, multi"):
        cam_layers(classifier, "all")


def test_timm_models_read_feature_info_stages():
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    config = TimmWrapperConfig(architecture="tf_efficientnet_lite0", num_labels=3)
    model = TimmWrapperForImageClassification(config)

    class Stub:
        pass

    stub = Stub()
    stub.model = model
    last, multi = cam_layers(stub, "last"), cam_layers(stub, "multi")
    assert last.names == ["bn2"]  # the head's activation map, input / 32
    assert multi.names == ["blocks.2", "blocks.4", "bn2"]  # input / 8, / 16, / 32


def test_hooks_are_released_and_weights_and_flags_untouched(classifier):
    layers = cam_layers(classifier, "multi").layers
    before = [p.detach().clone() for p in classifier.model.parameters()]
    flags = [p.requires_grad for p in classifier.model.parameters()]
    forward_with_cams(classifier, _pixels(classifier), lambda _: [(0, 2)], "layercam", "multi")
    assert all(not layer._forward_hooks for layer in layers)
    assert all(p.grad is None for p in classifier.model.parameters())
    assert [p.requires_grad for p in classifier.model.parameters()] == flags
    after = list(classifier.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_cams_wait_for_the_model_lock(classifier):
    done = threading.Event()
    x = _pixels(classifier, seeds=(3,))
    classifier._lock.acquire()
    try:
        worker = threading.Thread(
            target=lambda: (forward_with_cams(classifier, x, lambda _: [(0, 0)]), done.set())
        )
        worker.start()
        time.sleep(0.3)
        assert not done.is_set()
    finally:
        classifier._lock.release()
    worker.join(30)
    assert done.is_set()


def test_method_names_are_checked():
    assert cam_method("GradCAM++") is CAM_METHODS["gradcam++"]
    assert cam_method("grad-cam") is CAM_METHODS["gradcam"]
    with pytest.raises(KeyError, match="gradcam, gradcam\\+\\+"):
        cam_method("smoothgrad")


def test_vit_reshape_drops_prefix_tokens():
    grid = torch.arange(16, dtype=torch.float32).reshape(1, 16, 1).expand(2, 16, 3)
    with_cls = torch.cat([torch.full((2, 1, 3), -1.0), grid], dim=1)
    with_registers = torch.cat([torch.full((2, 5, 3), -1.0), grid], dim=1)
    for tokens in (grid, with_cls, with_registers):
        out = vit_reshape_transform(tokens)
        assert out.shape == (2, 3, 4, 4)
        assert out[0, 0, 1, 2] == 6  # row-major token order kept, prefix gone


def test_other_input_sizes_work_for_vits_and_cnns(classifier):
    x = cam_input(classifier, [random_image(80, 50, seed=5)], side=96)
    result = forward_with_cams(classifier, x, lambda _: [(0, 0)])
    assert result.maps.shape == (1, 96, 96) and result.maps.max() > 0.5
