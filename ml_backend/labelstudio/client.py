"""The label-studio-sdk client, and the few things the SDK keeps private that we need.

Everything that talks to the Label Studio API goes through :mod:`ml_backend.labelstudio`; when
the SDK changes, this module is the one to adapt (``tests/test_architecture.py`` checks that no
other module builds a client or reaches into ``_client_wrapper``).
"""

from __future__ import annotations

import logging
from typing import Any

from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

log = logging.getLogger(__name__)

__all__ = ["ApiError", "LabelStudio", "api_request", "auth_headers", "close", "make_client"]


def make_client(base_url: str, api_key: str | None, timeout: float | None = None) -> LabelStudio:
    """An SDK client; ``api_key`` may be a legacy token or a personal access token (PAT)."""
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return LabelStudio(base_url=base_url, api_key=api_key, **options)


def auth_headers(client: LabelStudio) -> dict[str, str]:
    """The ``Authorization`` header the SDK sends now: ``Token <key>`` for a legacy token, or
    ``Bearer <access>`` for a PAT (exchanged at ``/api/token/refresh/``, refreshed when it
    expires). Raises :class:`ApiError` or ``httpx`` errors when the exchange fails."""
    auth = client._client_wrapper.get_headers().get("Authorization")
    return {"Authorization": auth} if auth else {}


def close(client: LabelStudio) -> None:
    """Close the client's pooled connections (nothing worse than a leak if the SDK changed)."""
    try:
        client._client_wrapper.httpx_client.httpx_client.close()
    except Exception as exc:
        log.debug("could not close the label-studio-sdk HTTP client: %r", exc)


def api_request(client: LabelStudio, method: str, path: str, *, timeout: float, **kwargs) -> Any:
    """A raw API call with the client's authentication, for endpoints the SDK does not wrap.

    Returns the decoded JSON (None for an empty body); an HTTP error raises ``RuntimeError``
    with ``status_code`` set and the start of the answer in the message.
    """
    response = client._client_wrapper.httpx_client.request(
        path, method=method, request_options={"timeout_in_seconds": timeout}, **kwargs
    )
    if response.status_code >= 400:
        error = RuntimeError(
            f"{method} /{path} -> HTTP {response.status_code}: {response.text[:300]}"
        )
        error.status_code = response.status_code  # type: ignore[attr-defined]
        raise error
    return response.json() if response.content else None
