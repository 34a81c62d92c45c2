"""Calling Label Studio from jobs: outages are retried with back-off, nothing else is.

:func:`with_retries` wraps one Label Studio call: a connection error, a timeout or a 5xx/408/429
answer is retried with exponential back-off (``LS_RETRIES``, ``LS_RETRY_SECONDS``) and then raised
as :class:`LabelStudioUnavailable`; another 4xx raises :class:`LabelStudioRejected` at once; any
local error (a bug, bad data, a full disk) propagates unchanged at once. :func:`ls_client` is the
SDK client the jobs use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from ml_backend.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class LabelStudioUnavailable(RuntimeError):
    """Label Studio did not answer (after retries): the round is tried again later."""


class LabelStudioRejected(RuntimeError):
    """Label Studio answered with a 4xx (unknown project, bad token): retrying cannot help."""

    def __init__(self, message: str, status_code: int | None):
        super().__init__(message)
        self.status_code = status_code


#: what a Label Studio outage looks like from here: the connection fails or times out (httpx for
#: the SDK, requests for image downloads, plain OSError subclasses) or Label Studio answers 5xx,
#: 408 or 429. Every other exception is a local error and is raised at once, never retried.
_TRANSIENT_STATUS = frozenset({408, 429})


def is_label_studio_outage(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status in _TRANSIENT_STATUS
    import httpx
    import requests

    transport = (httpx.TransportError, requests.ConnectionError, requests.Timeout)
    return isinstance(exc, (*transport, ConnectionError, TimeoutError))


def with_retries(settings: Settings, what: str, call: Callable[[], T]) -> T:
    """Call Label Studio, retrying outages (connection errors, 5xx) with exponential back-off.

    A 4xx answer raises :class:`LabelStudioRejected` at once; a local error (a bug, bad data,
    a full disk) propagates unchanged at once: neither is retried."""
    delay = settings.ls_retry_seconds
    for attempt in range(1, settings.ls_retries + 1):
        try:
            return call()
        except Exception as exc:  # the SDK raises httpx errors and ApiError
            status = getattr(exc, "status_code", None)
            if not is_label_studio_outage(exc) and not isinstance(status, int):
                raise  # a local error: retrying would only repeat it
            hint = (
                f"Check that Label Studio is reachable at LABEL_STUDIO_URL={settings.label_studio_url!r} "
                "and that LABEL_STUDIO_API_KEY is valid."
            )
            message = (
                f"{what} failed after {attempt} attempt(s): {type(exc).__name__}: {exc}. {hint}"
            )
            if not is_label_studio_outage(exc):
                raise LabelStudioRejected(message, status) from exc
            if attempt == settings.ls_retries:
                raise LabelStudioUnavailable(message) from exc
            log.warning(
                "%s failed (%s), retrying in %.1fs (%d/%d)",
                what,
                exc,
                delay,
                attempt,
                settings.ls_retries,
            )
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def ls_client(settings: Settings):
    if not settings.label_studio_url or not settings.api_key:
        raise RuntimeError(
            "training needs LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY to read the annotations"
        )
    from ml_backend.labelstudio.project import client_for

    return client_for(settings.label_studio_url, settings.api_key)
