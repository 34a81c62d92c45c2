import pytest

from model_zoo.interactive.fallback import FallbackSource
from model_zoo.interactive.registry import SOURCES, build_source, default_source


def test_default_is_fallback_without_a_usable_checkpoint(tmp_path):
    assert default_source(None) == "fallback"
    assert default_source(str(tmp_path / "missing.pth")) == "fallback"
    weights = tmp_path / "sam.pth"
    weights.write_bytes(b"x")
    assert default_source(str(weights), "vit_b") == "sam"
    assert default_source(str(weights), "vit_xxl") == "fallback"


def test_build_fallback_with_its_own_cache_budget():
    source = build_source("fallback", cache_bytes=1234, sam_checkpoint=None, fallback_side=256)
    assert isinstance(source, FallbackSource)
    assert source.cache.max_bytes == 1234 and source.side == 256


def test_sam_without_checkpoint_says_what_to_set():
    with pytest.raises(FileNotFoundError, match="SAM_CHECKPOINT"):
        build_source("sam", cache_bytes=1000, sam_checkpoint=None)


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(ValueError, match=", ".join(SOURCES)):
        build_source("magic", cache_bytes=1000)
