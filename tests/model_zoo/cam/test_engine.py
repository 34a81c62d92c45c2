import threading
import time

import numpy as np
import pytest
import torch

from model_zoo.cam.methods import CAM_METHODS, cam_layers, cam_method, cams, vit_reshape_transform
from model_zoo.classifier.model import load_classifier
from tests.images import random_image

MODELS = ["tiny-vit", "tiny-convnext"]


@pytest.fixture(scope="module", params=MODELS)
def classifier(request):
    return load_classifier(request.param, ["crack", "rust", "no_defect"], device="cpu")


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_every_method_gives_one_normalised_map_per_pair(classifier, method):
    images = [random_image(90, 70, seed=1), random_image(40, 60, seed=2)]
    maps = cams(classifier, images, [0, 1], method=method)
    side = classifier.input_size
    assert [m.shape for m in maps] == [(side, side)] * 2
    for m in maps:
        assert np.isfinite(m).all() and m.min() >= 0.0 and m.max() <= 1.0 + 1e-6
    assert any(m.max() > 0.5 for m in maps)  # normalised maps reach their maximum


def test_hooks_are_released_and_weights_untouched(classifier):
    layers = cam_layers(classifier).layers
    before = [p.detach().clone() for p in classifier.model.parameters()]
    cams(classifier, [random_image(seed=3)], [2], method="gradcam", tta=True)
    assert all(not layer._forward_hooks for layer in layers)
    assert all(p.grad is None for p in classifier.model.parameters())
    after = list(classifier.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_target_class_changes_the_map(classifier):
    image = random_image(64, 64, seed=4)
    a, b = cams(classifier, [image, image], [0, 1], method="gradcam")
    assert not np.allclose(a, b)


def test_cams_wait_for_the_model_lock(classifier):
    done = threading.Event()
    classifier._lock.acquire()
    try:
        worker = threading.Thread(
            target=lambda: (cams(classifier, [random_image()], [0]), done.set())
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


def test_frozen_models_still_get_gradient_maps(classifier):
    flags = [p.requires_grad for p in classifier.model.parameters()]
    for p in classifier.model.parameters():
        p.requires_grad_(False)  # what fine_tune leaves behind
    try:
        (m,) = cams(classifier, [random_image(seed=7)], [1], method="gradcam++")
        assert m.max() > 0.5
        assert not any(p.requires_grad for p in classifier.model.parameters())
    finally:
        for p, flag in zip(classifier.model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
