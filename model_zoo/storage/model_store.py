"""Versioned model store: every trained version in its own directory, a live pointer per scope.

Layout under the store root (``$MODEL_DIR/store`` in the backend)::

    <scope>/versions/<version>/   model.safetensors, config.json, processor, fm_inspect.json (meta)
    <scope>/live                  the live version's name (replaced atomically)
    <scope>/.tmp-*                unfinished writes (never read; cleaned up on start)

A version is written to a temporary directory in the same scope and renamed into place, so a
process killed mid-write leaves no half version behind; the live pointer is a file replaced
with ``os.replace``, which is atomic on POSIX. Readers (every gunicorn worker) notice a new live
version by reading that small file. ``keep`` bounds the versions kept (the live one is never
removed). A scope is whatever groups versions: the backend uses one per Label Studio project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_zoo.storage.atomic import write_text_atomic

META_FILE = "fm_inspect.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class StoreError(RuntimeError):
    """A store operation cannot be done; the message says why."""


@dataclass(frozen=True)
class VersionInfo:
    scope: str
    version: str
    path: Path
    meta: dict[str, Any]
    live: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "version": self.version,
            "live": self.live,
            "path": str(self.path),
            **{k: v for k, v in self.meta.items() if k != "files"},  # the file list stays inside
        }


def _check_name(kind: str, value: str) -> str:
    value = str(value)
    if not _NAME.match(value):
        raise StoreError(f"invalid {kind} name {value!r}: use letters, digits, '.', '_' or '-'")
    return value


class ModelStore:
    def __init__(self, root: str | os.PathLike, keep: int = 5):
        self.root = Path(root)
        self.keep = max(1, int(keep))

    # ------------------------------------------------------------------ paths
    def scope_dir(self, scope: str) -> Path:
        return self.root / _check_name("scope", scope)

    def version_dir(self, scope: str, version: str) -> Path:
        return self.scope_dir(scope) / "versions" / _check_name("version", version)

    # ------------------------------------------------------------------ reading
    def live_version(self, scope: str) -> str | None:
        pointer = self.scope_dir(scope) / "live"
        try:
            name = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return name if name and (self.version_dir(scope, name) / META_FILE).is_file() else None

    def live_path(self, scope: str) -> Path | None:
        version = self.live_version(scope)
        return self.version_dir(scope, version) if version else None

    @staticmethod
    def meta(path: str | os.PathLike) -> dict[str, Any]:
        try:
            return json.loads((Path(path) / META_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def versions(self, scope: str) -> list[VersionInfo]:
        """Complete versions of a scope, oldest first."""
        base = self.scope_dir(scope) / "versions"
        if not base.is_dir():
            return []
        live = self.live_version(scope)
        found = []
        for path in base.iterdir():
            meta_path = path / META_FILE
            if not meta_path.is_file():
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            found.append(VersionInfo(scope, path.name, path, meta, path.name == live))
        return sorted(found, key=lambda v: (v.meta.get("created_at", 0), v.version))

    def scopes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def next_version(self, scope: str, prefix: str = "v") -> str:
        numbers = [
            int(m.group(1)) for v in self.versions(scope) if (m := re.search(r"(\d+)$", v.version))
        ]
        return f"{prefix}{max(numbers, default=0) + 1}"

    # ------------------------------------------------------------------ writing
    def add_version(
        self,
        scope: str,
        version: str,
        write: Callable[[Path], None],
        meta: dict[str, Any],
        *,
        make_live: bool = True,
    ) -> VersionInfo:
        """Write a version with ``write(tmp_dir)``, rename it into place, optionally go live."""
        final = self.version_dir(scope, version)
        if final.exists():
            raise StoreError(f"version {version!r} already exists in {scope!r}")
        scope_dir = self.scope_dir(scope)
        (scope_dir / "versions").mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=scope_dir))
        try:
            write(tmp)
            record = {**self.meta(tmp), **meta, "version": version, "scope": scope}
            record["files"] = _file_sizes(tmp)
            record.setdefault("created_at", time.time())
            write_text_atomic(
                tmp / META_FILE, json.dumps(record, indent=2, sort_keys=True, default=str)
            )
            _fsync_dir(tmp)
            os.rename(tmp, final)
            _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if make_live:
            self.set_live(scope, version)
        self.prune(scope)
        return VersionInfo(scope, version, final, record, make_live)

    def update_meta(self, scope: str, version: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into a stored version's metadata (an atomic rewrite of its file;
        the weights are untouched)."""
        path = self.version_dir(scope, version) / META_FILE
        record = {**json.loads(path.read_text()), **changes}
        write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True, default=str))

    def set_live(self, scope: str, version: str) -> None:
        """Point the scope at ``version`` (rollback is this, with an older version)."""
        path = self.version_dir(scope, version)
        if not (path / META_FILE).is_file():
            known = [v.version for v in self.versions(scope)]
            raise StoreError(f"no version {version!r} in {scope!r}; known versions: {known}")
        missing = self.missing_files(path)
        if missing:
            raise StoreError(
                f"version {version!r} of {scope!r} is incomplete ({len(missing)} file(s) missing "
                f"or truncated, e.g. {missing[0]!r}); it cannot go live"
            )
        write_text_atomic(self.scope_dir(scope) / "live", version + "\n")

    def prune(self, scope: str) -> list[str]:
        """Remove the oldest versions beyond ``keep``; never the live one."""
        versions = self.versions(scope)
        removable = [v for v in versions if not v.live]
        excess = len(versions) - self.keep
        removed = []
        for info in removable[: max(0, excess)]:
            # rename first (atomic): a process killed mid-delete leaves a .trash-* folder that
            # is never listed, never a listed version with missing files
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.scope_dir(scope)))
            os.rename(info.path, trash / info.version)
            _fsync_dir(info.path.parent)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(info.version)
        return removed

    def missing_files(self, path: str | os.PathLike) -> list[str]:
        """Files the version's metadata lists that are absent or of another size."""
        listed = self.meta(path).get("files") or {}
        root = Path(path)
        out = []
        for name, size in listed.items():
            try:
                if (root / name).stat().st_size != int(size):
                    out.append(name)
            except OSError:
                out.append(name)
        return out

    def clean_partial(self) -> int:
        """Delete leftovers of writes that never finished (a killed process)."""
        count = 0
        for scope in self.scopes():
            leftovers = [
                *self.scope_dir(scope).glob(".tmp-*"),
                *self.scope_dir(scope).glob(".trash-*"),
            ]
            for tmp in leftovers:
                shutil.rmtree(tmp, ignore_errors=True)
                count += 1
        return count


def _file_sizes(root: Path) -> dict[str, int]:
    """Every file under ``root`` (but the metadata itself) with its size in bytes."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != META_FILE
    }


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
