"""Images that are not downloaded: Local Storage files read from ``local_files_root``, and
``data:`` URLs decoded in memory."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import posixpath
import stat
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

from label_studio_sdk._extensions.label_studio_tools.core.utils.io import safe_build_path

from ml_backend.images.errors import ImageFetchError, too_large
from ml_backend.images.urls import redact

logger = logging.getLogger(__name__)


def read_local_file(url: str, root: str | None, max_bytes: int, can_download: bool) -> bytes | None:
    """Read a /data/local-files/?d= file from ``root`` (local_files_root); None to download it
    from Label Studio instead (no root, or the file is not there and ``can_download``)."""
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("d")
    rel = values[-1] if values else ""  # as Label Studio's view: decoded once, last one wins
    shown = redact(url, keep_query=True)
    if not rel:
        raise ImageFetchError(
            f"Local Storage URL {shown} has no file path (?d=...).", reason="bad_url", url=shown
        )
    if root is None:
        return None
    path = _inside(root, rel, shown)
    try:
        data = read_regular_file(os.path.realpath(path), rel, url, max_bytes)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if can_download:
            logger.info(
                "%s is not under local_files_root %s; downloading it from Label Studio", rel, root
            )
            return None
        raise ImageFetchError(
            f"Local Storage file {rel!r} not found under local_files_root "
            f"({root}). Set LOCAL_FILES_DOCUMENT_ROOT to the directory Label "
            "Studio serves Local Storage from, or set LABEL_STUDIO_URL to download it.",
            reason="http_error",
            url=shown,
        ) from None
    except PermissionError as exc:
        raise ImageFetchError(
            f"Local Storage file {path} is not readable by the backend: {exc.strerror}.",
            reason="not_allowed",
            url=shown,
        ) from exc
    if len(data) > max_bytes:
        raise too_large(path, len(data), max_bytes)
    return data


def _inside(root: str, rel: str, shown: str) -> str:
    """``rel`` joined onto ``root``; refused when it, or a symbolic link on the way, leads
    outside the root."""
    refused = ImageFetchError(
        f"Refused Local Storage path {rel!r}: it leads outside local_files_root ({root}).",
        reason="not_allowed",
        url=shown,
    )
    try:
        path = safe_build_path(root, posixpath.normpath(rel).lstrip("/"))
    except ValueError as exc:
        raise refused from exc
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise refused  # a symbolic link under the root that points outside it: never followed
    return path


def read_regular_file(path: str, rel: str, url: str, max_bytes: int) -> bytes:
    """Read ``path`` if it is a regular file. Opened non-blocking, so a FIFO or a device
    under the root is refused at once instead of hanging the request."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ImageFetchError(
                f"Refused Local Storage path {rel!r}: not a regular file.",
                reason="not_allowed",
                url=redact(url, keep_query=True),
            )
        if info.st_size > max_bytes:
            raise too_large(path, info.st_size, max_bytes)
        return fh.read(max_bytes + 1)


def decode_data_url(url: str, max_bytes: int) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded), at most ``max_bytes``."""
    header, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise ImageFetchError(
            "Malformed data: URL (no ',' between the media type and the data).",
            reason="bad_url",
            url=redact(url),
        )
    params = [p.strip().lower() for p in header.split(";")]
    if "base64" in params[1:]:
        if "%" in payload:
            payload = unquote_to_bytes(payload).decode("ascii", "replace")
        payload = "".join(payload.split()).replace("-", "+").replace("_", "/")
        if len(payload) // 4 * 3 > max_bytes + 3:
            raise too_large("data: URL", len(payload) // 4 * 3, max_bytes)
        try:
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageFetchError(
                f"data: URL has invalid base64 data: {exc}.", reason="bad_url", url=redact(url)
            ) from exc
    else:
        if len(payload) > 3 * (max_bytes + 1):
            raise too_large("data: URL", len(payload), max_bytes)
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise too_large("data: URL", len(data), max_bytes)
    return data
