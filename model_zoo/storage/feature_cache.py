"""Backbone embeddings on disk, per model version, so rescoring a pool does not recompute them.

Layout under the cache root (``$MODEL_DIR/features`` in the backend)::

    <version>/index.json        {"file": "features-<n>.npy", "keys": [...], "dim": D}
    <version>/features-<n>.npy  float16 (len(keys), D); row i belongs to keys[i]

Rows that could not be computed (e.g. an unreadable image) may be stored as NaN; they count as
missing on the next read. Keys are strings chosen by the caller (the backend uses ``"<task id>:<image url>"`` so that a
changed image URL is a new key). Writes are atomic: a new ``.npy`` generation is written under a
temporary name and renamed, then ``index.json`` (which names it) is replaced the same way, then
the old generation is removed. A reader therefore always sees a matching pair; a crash leaves at
worst an orphaned file that the next write removes. One writer per version at a time is assumed
(the backend holds the project lock); concurrent readers are fine.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from model_zoo.storage.atomic import write_atomic

log = logging.getLogger(__name__)
INDEX = "index.json"


def _safe(version: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._@-]+", "_", str(version)).strip("._") or "unnamed"
    return name[:150]


class FeatureCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def version_dir(self, version: str) -> Path:
        return self.root / _safe(version)

    def load(self, version: str) -> tuple[list[str], np.ndarray]:
        """All cached keys and features (float16, memory-mapped) of ``version``."""
        folder = self.version_dir(version)
        try:
            index = json.loads((folder / INDEX).read_text())
            features = np.load(folder / index["file"], mmap_mode="r")
        except (OSError, ValueError, KeyError) as exc:
            if (folder / INDEX).exists():
                log.warning("feature cache %s unreadable (%s); recomputing", folder, exc)
            return [], np.zeros((0, 0), dtype=np.float16)
        keys = list(index["keys"])
        if len(keys) != len(features):
            log.warning(
                "feature cache %s: %d keys, %d rows; ignored", folder, len(keys), len(features)
            )
            return [], np.zeros((0, 0), dtype=np.float16)
        return keys, features

    def get(self, version: str, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(found, features)``: a bool mask over ``keys`` and float32 rows (zeros where missing)."""
        cached_keys, cached = self.load(version)
        where = {k: i for i, k in enumerate(cached_keys)}
        rows = np.array([where.get(k, -1) for k in keys], dtype=np.int64)
        found = rows >= 0
        dim = cached.shape[1] if cached.ndim == 2 and len(cached_keys) else 0
        out = np.zeros((len(keys), dim), dtype=np.float32)
        if found.any():
            out[found] = np.asarray(cached[rows[found]], dtype=np.float32)
            bad = found & ~np.isfinite(out).all(axis=1)  # rows stored as NaN: not computed
            found &= ~bad
            out[bad] = 0.0
        return found, out

    def put(self, version: str, keys: Sequence[str], features: np.ndarray) -> None:
        """Add (or replace) rows for ``keys``; atomic (see the module doc)."""
        features = np.asarray(features)
        if len(keys) != len(features):
            raise ValueError(f"{len(keys)} keys for {len(features)} feature rows")
        if not len(keys):
            return
        folder = self.version_dir(version)
        folder.mkdir(parents=True, exist_ok=True)
        old_keys, old = self.load(version)
        old_file = None
        if (folder / INDEX).exists():
            try:
                old_file = json.loads((folder / INDEX).read_text()).get("file")
            except (OSError, ValueError):
                old_file = None
        if old_keys and old.shape[1] != features.shape[1]:
            log.warning("feature cache %s: dimension changed; starting over", folder)
            old_keys, old = [], np.zeros((0, features.shape[1]), dtype=np.float16)
        new = {k: i for i, k in enumerate(keys)}
        keep = [i for i, k in enumerate(old_keys) if k not in new]
        all_keys = [old_keys[i] for i in keep] + list(keys)
        merged = np.concatenate(
            [
                np.asarray(old[keep], dtype=np.float16).reshape(len(keep), features.shape[1]),
                features.astype(np.float16),
            ]
        )
        generation = 0
        if old_file:
            match = re.search(r"features-(\d+)\.npy", old_file)
            generation = int(match.group(1)) + 1 if match else 0
        name = f"features-{generation}.npy"
        write_atomic(folder / name, lambda p: np.save(p, merged))
        index = {"file": name, "keys": all_keys, "dim": int(merged.shape[1]), "version": version}
        write_atomic(folder / INDEX, lambda p: p.write_text(json.dumps(index)))
        for stale in folder.glob("features-*.npy"):
            if stale.name != name:
                stale.unlink(missing_ok=True)


def cached_embeddings(
    cache: FeatureCache | None,
    version: str,
    keys: Sequence[str],
    compute: Callable[[list[int]], np.ndarray],
) -> tuple[np.ndarray, int]:
    """Features for ``keys``: cached rows, plus ``compute(missing_positions)`` for the rest (then
    cached). Returns ``(features float32, number computed)``."""
    if cache is None:
        return np.asarray(compute(list(range(len(keys)))), dtype=np.float32), len(keys)
    found, out = cache.get(version, keys)
    missing = [int(i) for i in np.flatnonzero(~found)]
    if missing:
        fresh = np.asarray(compute(missing), dtype=np.float32)
        if out.shape[1] != fresh.shape[1]:  # nothing was cached yet: no width known
            out = np.zeros((len(keys), fresh.shape[1]), dtype=np.float32)
        out[missing] = fresh
        cache.put(version, [keys[i] for i in missing], fresh)
    return out, len(missing)
