"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The content goes to a temporary file in the same folder (so ``os.replace`` is a rename on one
file system, atomic on POSIX), is flushed to disk, and replaces the target; on any error the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp_path)`` writes the content (``np.save``, ``torch.save``, ``image.save`` …),
    then it replaces ``path``. Folders are created as needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # same suffix as the target: np.save and friends add theirs to names without it
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.tmp-", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_dir_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp_dir)`` fills a new folder, which then takes the place of ``path``: a reader
    sees the old folder or the new one (the old one is renamed away first, then removed). On
    an error in ``write`` the temporary folder is removed and ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target
