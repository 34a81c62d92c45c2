"""Bulk pre-label job records on disk: ``$MODEL_DIR/jobs/prelabel/<job id>/``.

``job.json`` holds what the job is (project, mode, model version, chunk count, state) and one
``chunk-NNNNN.json`` per chunk holds its task ids, state, attempts and counts. Each chunk file is
written only by the process running that chunk, so threads and RQ workers on other machines
(sharing MODEL_DIR) never write the same file; the job's counts are the sum over its chunks.
Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

CHUNK_STATES = ("pending", "running", "done", "failed")
COUNTS = ("predicted", "pushed", "skipped", "failed")


def job_id_for(project: int, mode: str, version: str) -> str:
    """Deterministic, so that starting the same pre-label again continues the same job."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", version)[:80]
    return f"prelabel-p{project}-{mode}-{slug}"


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
    os.replace(tmp, path)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


class PrelabelRecords:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root) / "prelabel"

    def job_dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    # ------------------------------------------------------------------- job
    def create(self, job_id: str, meta: dict, chunks: list[list[int]]) -> None:
        folder = self.job_dir(job_id)
        for old in folder.glob("chunk-*.json"):
            old.unlink()
        for index, ids in enumerate(chunks):
            _write(
                folder / f"chunk-{index:05d}.json",
                {"index": index, "tasks": ids, "state": "pending", "attempts": 0},
            )
        _write(
            folder / "job.json",
            {**meta, "id": job_id, "chunks": len(chunks), "state": "queued",
             "created_at": time.time(), "updated_at": time.time()},
        )  # fmt: skip

    def meta(self, job_id: str) -> dict:
        return _read(self.job_dir(job_id) / "job.json")

    def update_meta(self, job_id: str, **fields: Any) -> dict:
        meta = {**self.meta(job_id), **fields, "updated_at": time.time()}
        _write(self.job_dir(job_id) / "job.json", meta)
        return meta

    # ------------------------------------------------------------------- chunks
    def chunk(self, job_id: str, index: int) -> dict:
        return _read(self.job_dir(job_id) / f"chunk-{index:05d}.json")

    def update_chunk(self, job_id: str, index: int, **fields: Any) -> dict:
        record = {**self.chunk(job_id, index), **fields, "updated_at": time.time()}
        _write(self.job_dir(job_id) / f"chunk-{index:05d}.json", record)
        return record

    def chunks(self, job_id: str) -> list[dict]:
        folder = self.job_dir(job_id)
        return [_read(p) for p in sorted(folder.glob("chunk-*.json"))]

    def unfinished(self, job_id: str) -> list[int]:
        return [c["index"] for c in self.chunks(job_id) if c.get("state") != "done"]

    # ------------------------------------------------------------------- status
    def summary(self, job_id: str, *, with_errors: bool = False) -> dict:
        meta = self.meta(job_id)
        if not meta:
            return {}
        chunks = self.chunks(job_id)
        states = {s: 0 for s in CHUNK_STATES}
        counts = {c: int(meta.get("planned_skipped", 0)) if c == "skipped" else 0 for c in COUNTS}
        errors: list[dict] = []
        for chunk in chunks:
            states[chunk.get("state", "pending")] = states.get(chunk.get("state", "pending"), 0) + 1
            for name in COUNTS:
                counts[name] += int(chunk.get(name, 0) or 0)
            errors.extend(chunk.get("task_errors") or [])
        state = meta.get("state", "queued")
        if state not in {"planning", "failed"} and chunks:
            if states["done"] == len(chunks):
                state = "succeeded"
            elif states["done"] + states["failed"] == len(chunks) and states["failed"]:
                state = "failed"
            elif states["running"] or states["done"] or states["failed"]:
                state = "running"
        elif state not in {"planning", "failed"}:
            state = "succeeded"
        out = {**meta, "state": state, "chunk_states": states, "counts": counts,
               "task_errors": len(errors)}  # fmt: skip
        if with_errors:
            out["errors"] = errors[:500]
        return out

    def all(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            with contextlib.suppress(ValueError):
                summary = self.summary(folder.name)
                if summary:
                    out.append(summary)
        return out
