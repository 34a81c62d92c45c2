from __future__ import annotations

import numpy as np

from model_zoo.storage.feature_cache import FeatureCache, cached_embeddings


def test_put_get_merge_and_versions(tmp_path):
    cache = FeatureCache(tmp_path)
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put("v1", ["a", "b", "c"], a)
    found, got = cache.get("v1", ["c", "x", "a"])
    assert found.tolist() == [True, False, True]
    assert np.allclose(got[0], a[2]) and np.allclose(got[2], a[0]) and (got[1] == 0).all()
    cache.put("v1", ["b", "d"], np.ones((2, 4)))  # replaces b, adds d
    keys, stored = cache.load("v1")
    assert sorted(keys) == ["a", "b", "c", "d"] and stored.dtype == np.float16
    assert np.allclose(cache.get("v1", ["b"])[1], 1.0)
    assert len(list((tmp_path / "v1").glob("features-*.npy"))) == 1  # old generation removed
    assert not cache.get("v2", ["a"])[0].any()  # other model version: nothing cached


def test_cached_embeddings_computes_only_missing(tmp_path):
    cache = FeatureCache(tmp_path)
    calls = []

    def compute(positions):
        calls.append(list(positions))
        return np.array([[float(p), 1.0] for p in positions])

    first, n1 = cached_embeddings(cache, "m", ["k0", "k1"], compute)
    second, n2 = cached_embeddings(cache, "m", ["k1", "k2", "k0"], compute)
    assert (n1, n2) == (2, 1) and calls == [[0, 1], [1]]
    assert np.allclose(second[[0, 2]], first[[1, 0]])


def test_nan_rows_count_as_missing_and_corrupt_index_is_ignored(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.put("m", ["ok", "bad"], np.array([[1.0, 2.0], [np.nan, np.nan]]))
    found, _ = cache.get("m", ["ok", "bad"])
    assert found.tolist() == [True, False]
    (tmp_path / "m" / "index.json").write_text("{not json")
    assert not cache.get("m", ["ok"])[0].any()
