"""The Authorization header for Label Studio, from label-studio-sdk: ``Token <key>`` for a
legacy token; for a personal access token, ``Bearer <access>`` exchanged at
``/api/token/refresh/`` and refreshed when it expires. Failures say what to check."""

from __future__ import annotations

import threading
from typing import Any

from label_studio_sdk._extensions.label_studio_tools.core.utils.io import concat_urls

from ml_backend.images.download import unreachable
from ml_backend.images.errors import TOKEN_ADVICE, ImageFetchError
from ml_backend.labelstudio import client as labelstudio_client


class LabelStudioToken:
    """The SDK client that holds the token (built on first use; safe to share between
    threads) and the headers it gives."""

    def __init__(self, ls_url: str, api_key: str, timeout_s: float) -> None:
        self._ls_url = ls_url
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._client: Any = None  # label_studio_sdk.LabelStudio
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            labelstudio_client.close(client)

    def _sdk_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # The SDK joins "api/token/refresh/" onto base_url: a trailing slash keeps a
                    # path prefix such as http://host/label-studio.
                    self._client = labelstudio_client.make_client(
                        self._ls_url + "/", self._api_key, timeout=self._timeout_s
                    )
        return self._client

    def headers(self) -> dict[str, str]:
        """{'Authorization': 'Token <key>' | 'Bearer <access>'}."""
        import httpx

        refresh_url = concat_urls(self._ls_url, "/api/token/refresh/")
        try:
            return labelstudio_client.auth_headers(self._sdk_client())
        except labelstudio_client.ApiError as exc:
            detail = exc.body.get("detail") if isinstance(exc.body, dict) else exc.body
            if exc.status_code in (401, 403) or exc.status_code is None:
                raise ImageFetchError(
                    f"Label Studio refused the API token ({exc.status_code}: {detail}). "
                    + TOKEN_ADVICE,
                    reason="unauthorized",
                    url=refresh_url,
                    status_code=exc.status_code,
                ) from None
            raise ImageFetchError(
                f"Exchanging the personal access token at {refresh_url} failed with HTTP "
                f"{exc.status_code}. Check that LABEL_STUDIO_URL points at Label Studio >= 1.17.",
                reason="http_error",
                url=refresh_url,
                status_code=exc.status_code,
            ) from None
        except httpx.TimeoutException:
            raise ImageFetchError(
                f"Timed out exchanging the personal access token at {refresh_url}.",
                reason="timeout",
                url=refresh_url,
            ) from None
        except httpx.HTTPError as exc:
            raise unreachable(refresh_url, exc, self._ls_url) from None
        except ValueError as exc:  # a non-JSON answer from the refresh endpoint
            raise ImageFetchError(
                f"{refresh_url} did not answer like Label Studio's token refresh endpoint "
                f"({type(exc).__name__}). Check LABEL_STUDIO_URL.",
                reason="http_error",
                url=refresh_url,
            ) from None
