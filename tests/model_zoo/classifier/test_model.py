import threading

import numpy as np
import pytest

from model_zoo.classifier.model import canonical_class_name, load_classifier
from model_zoo.loading import ModelLoadError
from tests.images import random_image

LABELS = ["Crack", "No defect", "Rust"]


@pytest.fixture(scope="module")
def tiny():
    return load_classifier("tiny-vit", LABELS, device="cpu")


def test_canonical_names():
    assert canonical_class_name("Net crack") == canonical_class_name("net-crack") == "net_crack"
    assert canonical_class_name(" Exposed  Rebar ") == "exposed_rebar"


def test_probabilities_batched_any_size(tiny):
    images = [random_image(60 + 7 * i, 90, seed=i) for i in range(5)]
    probs = tiny.predict_proba(images, batch_size=2)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # batching does not change the answer
    np.testing.assert_allclose(tiny.predict_proba(images, batch_size=16), probs, atol=1e-5)
    assert tiny.predict_proba([]).shape == (0, 3)


def test_random_entries_are_reproducible_across_loads(tiny):
    again = load_classifier("tiny-vit", LABELS, device="cpu")
    image = [random_image(seed=3)]
    np.testing.assert_allclose(again.predict_proba(image), tiny.predict_proba(image), atol=1e-6)
    assert again.version == tiny.version
    assert not tiny.head_trained


def test_multi_label_uses_sigmoids():
    model = load_classifier("tiny-vit", LABELS, device="cpu", multi_label=True)
    probs = model.predict_proba([random_image(seed=1)])
    assert model.multi_label
    assert not np.isclose(probs.sum(), 1.0)


def test_save_and_reload_keeps_classes_version_and_outputs(tiny, tmp_path):
    out = tiny.save(tmp_path / "m", version="v7")
    assert (out / "model.safetensors").is_file()
    loaded = load_classifier(str(out), ["Rust"], device="cpu")
    assert loaded.classes == LABELS  # a fine-tuned head keeps its own classes
    assert loaded.version == "v7" and loaded.head_trained
    image = [random_image(seed=5)]
    np.testing.assert_allclose(loaded.predict_proba(image), tiny.predict_proba(image), atol=1e-5)


def test_convnext_entry(tmp_path):
    model = load_classifier("tiny-convnext", ["a", "b"], device="cpu")
    assert model.predict_proba([random_image(seed=2)]).shape == (1, 2)


def test_missing_hub_weights_error_names_entry_paths_and_fix(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_classifier("vit-base", LABELS, model_dir=tmp_path)
    message = str(err.value)
    assert "vit-base" in message
    assert str(tmp_path / "zoo" / "vit-base") in message
    assert "google/vit-base-patch16-224-in21k" in message
    assert "CLASSIFIER_MODEL" in message


def test_inference_is_thread_safe(tiny):
    images = [random_image(seed=i) for i in range(4)]
    expected = tiny.predict_proba(images)
    results, errors = [], []

    def work():
        try:
            results.append(tiny.predict_proba(images))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_bad_device_setting():
    model = load_classifier("tiny-vit", LABELS, device="tpu")
    with pytest.raises(ValueError, match="DEVICE"):
        model.predict_proba([random_image()])


def test_a_foreign_save_pretrained_folder_keeps_its_head_as_a_plain_bool(tiny, tmp_path):
    """A folder written by plain ``save_pretrained`` (no fm-inspect metadata) whose labels
    overlap the config's: its head is kept, and ``head_trained`` is a bool that /health can
    serialise (it used to be the set of overlapping labels)."""
    import json

    foreign = tmp_path / "foreign"
    tiny.model.config.id2label = {i: name for i, name in enumerate(LABELS)}
    tiny.model.config.label2id = {name: i for i, name in enumerate(LABELS)}
    tiny.model.save_pretrained(foreign, safe_serialization=True)
    tiny.processor.save_pretrained(foreign)
    loaded = load_classifier(str(foreign), ["Crack", "Spalling"], device="cpu")
    assert loaded.head_trained is True
    json.dumps({"head_trained": loaded.head_trained})
