"""A per-process, thread-safe LRU cache bounded by bytes, for per-image work (embeddings).

Values must have an ``nbytes`` attribute (numpy arrays do; the sources' embedding records
define one). :meth:`ByteLRU.get_or_compute` computes a missing value once even when several
threads ask for it at the same time (one lock per key being computed); other keys are not
blocked meanwhile. A value larger than the whole budget is returned but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ByteLRU:
    def __init__(self, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        size = int(value.nbytes)
        with self._lock:
            if key in self._items:
                self._bytes -= int(self._items.pop(key).nbytes)
            if size > self.max_bytes:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= int(evicted.nbytes)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        value = self._hit(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            value = self._hit(key)  # another thread may have computed it meanwhile
            if value is not None:
                return value
            with self._lock:
                self.misses += 1
            try:
                value = compute()
                self.put(key, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
        return value

    def _hit(self, key: Hashable) -> Any | None:
        value = self.get(key)
        if value is not None:
            with self._lock:
                self.hits += 1
        return value

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._items),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }
