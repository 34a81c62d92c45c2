"""The model cache: the allow-list of what may load, and its memory bound (LRU by bytes)."""

from __future__ import annotations

import pytest

from ml_backend.serving.model_cache import ModelCache, model_bytes
from ml_backend.serving.model_policy import ModelNotAllowed, ModelNotBuilt
from tests.ml_backend.conftest import make_settings

LABELS_A, LABELS_B, LABELS_C = ["crack", "rust"], ["crack", "rust", "algae"], ["a", "b", "c", "d"]


def cache(tmp_path, **env) -> ModelCache:
    return ModelCache(make_settings(tmp_path, ALLOWED_MODEL_DIRS="", **env))


def test_least_recently_used_model_is_unloaded_beyond_the_budget(tmp_path):
    one = model_bytes(cache(tmp_path).classifier("tiny-vit", LABELS_A))
    assert one > 100_000  # parameters and buffers of a real (tiny) ViT
    models = cache(tmp_path, MODEL_CACHE_BYTES=int(one * 2.5))
    first = models.classifier("tiny-vit", LABELS_A)
    models.classifier("tiny-vit", LABELS_B)
    assert models.classifier("tiny-vit", LABELS_A) is first  # a hit: A is now the most recent
    models.classifier("tiny-vit", LABELS_C)  # over budget: B (least recently used) goes
    loaded = [m["classes"] for m in models.loaded()]
    assert loaded == [LABELS_A, LABELS_C] and models.cached_bytes() <= int(one * 2.5)
    again = models.classifier("tiny-vit", LABELS_B)  # loads again when asked for
    assert again.classes == LABELS_B and len(models.loaded()) == 2


def test_a_model_larger_than_the_budget_still_serves_alone(tmp_path):
    models = cache(tmp_path, MODEL_CACHE_BYTES=1)
    models.classifier("tiny-vit", LABELS_A)
    models.classifier("tiny-vit", LABELS_B)
    assert [m["classes"] for m in models.loaded()] == [LABELS_B]


@pytest.mark.parametrize(
    "name",
    ["/etc", "../../etc", "~/x", "org/model", "unknown-name", "", "a\\b", "x/../../y/z"],
)
def test_names_outside_the_allow_list_are_refused_before_any_load(tmp_path, name):
    models = cache(tmp_path)
    with pytest.raises(ModelNotAllowed, match="not allowed"):
        models.classifier(name, LABELS_A)
    assert models.errors() == [] and models.loaded() == []  # nothing kept for junk names


def test_allowed_names(tmp_path):
    models = cache(tmp_path, ALLOWED_HUB_MODELS="facebook/dinov2-.*", CLASSIFIER_MODEL="/opt/m")
    policy = models.policy
    for name in ("tiny-vit", "facebook/dinov2-small", "facebook/dinov2-base@abc", "/opt/m"):
        policy.admit(name)
    (tmp_path / "models" / "zoo" / "mine").mkdir(parents=True)
    policy.admit("mine")  # a user entry MODEL_DIR/zoo/<name>
    policy.admit(str(tmp_path / "models" / "store" / "project-3" / "versions" / "p3-v1"))
    with pytest.raises(ModelNotAllowed):
        policy.admit("facebook/other")


def test_an_entry_built_on_first_use_is_refused_until_built(tmp_path):
    models = cache(tmp_path)
    with pytest.raises(ModelNotBuilt, match="pretrain --default"):
        models.classifier("fm-concrete-small", LABELS_A)
    assert not (tmp_path / "models" / "zoo" / "fm-concrete-small").exists()
