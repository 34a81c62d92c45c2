"""The error boundary: every failure a request can cause becomes a JSON answer with a status
and an ``error`` message that says what to do.

Routes raise; they do not catch. :func:`register` maps what they raise: bad request fields
(:class:`BadRequest`, :class:`LabelConfigError`) → 400, a model that may not be loaded → 400, a
model that cannot be loaded now (:class:`ModelLoadError`) → 503, a missing version → 404, disk and
memory failures and an unreachable Label Studio → 503, anything unforeseen → 500 with only the exception's type (the details go to
the log: messages never carry file paths or secrets).
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ml_backend.controls.interactive import InteractiveError
from ml_backend.controls.label_config import LabelConfigError
from ml_backend.images.fetcher import ImageFetchError
from ml_backend.serving.model_policy import ModelNotAllowed
from ml_backend.serving.versions import StoreError
from model_zoo.loading import ModelLoadError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024


class BadRequest(Exception):
    """A request field is missing or has a value we cannot use (400); the message says which."""

    status = 400

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def reason_phrase(message: str, limit: int = 400) -> str:
    """The message as an HTTP reason phrase: Label Studio shows only the status line of a failed
    /setup (``400 Client Error: <reason> for url …``), so the reason is where users see it."""
    text = " ".join(str(message).split())
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_response(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, "status": status, **extra})
    response.status = f"{status} {reason_phrase(message)}"
    return response


def disk_message(exc: OSError) -> str:
    """What a disk failure means for the user, without the path (the log has it)."""
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    advice = {
        errno.ENOSPC: "the disk is full: free space on the MODEL_DIR volume",
        errno.EROFS: "MODEL_DIR is read-only: mount it writable",
        errno.EACCES: "the backend may not write there: check the owner of MODEL_DIR",
        errno.EPERM: "the backend may not write there: check the owner of MODEL_DIR",
    }.get(exc.errno or 0, "check the disk and the permissions of MODEL_DIR")
    return f"the backend cannot read or write its files ({name}): {advice}, then retry"


def _http_error(exc: HTTPException) -> Response:
    message = exc.description or exc.name
    if exc.code == 413:
        message = f"the request is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB"
    return error_response(exc.code or 500, message)


def _os_error(exc: OSError) -> Response:
    log.error("disk error on %s %s: %r", request.method, request.path, exc)
    return error_response(503, disk_message(exc))


def _unreachable(exc: requests.RequestException) -> Response:
    log.error("a remote call failed on %s %s: %r", request.method, request.path, exc)
    return error_response(
        503,
        f"Label Studio (LABEL_STUDIO_URL) could not be reached ({type(exc).__name__}); check "
        "that it is up and reachable from the backend, then retry",
    )


def _memory_error(exc: MemoryError) -> Response:
    log.error("out of memory on %s %s", request.method, request.path)
    return error_response(
        503, "the backend ran out of memory: send fewer or smaller images per request"
    )


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, f"internal error ({type(exc).__name__}); see the backend log")


def register(app: Flask) -> None:
    """Install the boundary on ``app`` (most specific class first, as Flask looks them up)."""
    app.register_error_handler(BadRequest, lambda e: error_response(e.status, str(e)))
    app.register_error_handler(LabelConfigError, lambda e: error_response(400, str(e)))
    app.register_error_handler(
        InteractiveError, lambda e: error_response(400, f"interactive request: {e}")
    )
    app.register_error_handler(
        ImageFetchError,
        lambda e: error_response(422, f"the task image cannot be used: {e}"),
    )
    app.register_error_handler(ModelNotAllowed, lambda e: error_response(400, str(e)))
    app.register_error_handler(ModelLoadError, lambda e: error_response(503, str(e)))
    app.register_error_handler(StoreError, lambda e: error_response(404, str(e)))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(requests.RequestException, _unreachable)  # an OSError too
    app.register_error_handler(OSError, _os_error)
    app.register_error_handler(MemoryError, _memory_error)
    app.register_error_handler(Exception, _unexpected)
