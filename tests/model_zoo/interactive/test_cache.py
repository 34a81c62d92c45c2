import threading
import time

import numpy as np
import pytest

from model_zoo.interactive.cache import ByteLRU


def test_evicts_least_recently_used_when_over_budget():
    cache = ByteLRU(max_bytes=3000)
    for key in "abc":
        cache.put(key, np.zeros(1000, dtype=np.uint8))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", np.zeros(1000, dtype=np.uint8))
    assert "b" not in cache
    assert all(k in cache for k in "acd")
    assert cache.nbytes == 3000


def test_value_larger_than_the_budget_is_returned_but_not_kept():
    cache = ByteLRU(max_bytes=100)
    value = cache.get_or_compute("big", lambda: np.zeros(1000, dtype=np.uint8))
    assert value.nbytes == 1000
    assert len(cache) == 0 and cache.nbytes == 0


def test_replacing_a_key_keeps_the_byte_count_right():
    cache = ByteLRU(max_bytes=10_000)
    cache.put("a", np.zeros(1000, dtype=np.uint8))
    cache.put("a", np.zeros(500, dtype=np.uint8))
    assert cache.nbytes == 500 and len(cache) == 1


def test_concurrent_requests_for_one_key_compute_once():
    cache = ByteLRU(max_bytes=10**6)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return np.ones(10)

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert cache.stats()["misses"] == 1 and cache.stats()["hits"] == 7


def test_a_failed_compute_is_not_cached_and_can_be_retried():
    cache = ByteLRU(max_bytes=10**6)

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: np.ones(3)).sum() == 3


def test_negative_budget_is_refused():
    with pytest.raises(ValueError):
        ByteLRU(-1)
