"""What can go wrong fetching an image (:class:`ImageFetchError` and its ``reason``), and the
limits every fetch stays within."""

from __future__ import annotations

from dataclasses import dataclass

REASONS = frozenset(
    {
        "not_allowed",
        "http_error",
        "unauthorized",
        "too_large",
        "too_many_pixels",
        "not_an_image",
        "timeout",
        "unreachable",
        "bad_url",
        "missing_config",
    }
)


class ImageFetchError(Exception):
    """An image could not be fetched or decoded.

    ``reason`` is a short machine code (one of :data:`REASONS`); the message says what went wrong
    and what to do about it. ``url`` is the URL concerned with signatures and other query values
    of foreign hosts left out, and ``status_code`` the HTTP status where there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        url: str | None = None,
        status_code: int | None = None,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown ImageFetchError reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.url = url
        self.status_code = status_code


@dataclass(frozen=True)
class FetchLimits:
    """Limits applied to every fetch.

    ``max_bytes`` bounds the (decompressed) bytes downloaded or read, ``max_pixels`` the width x
    height of the image, checked before any pixel is decoded, and ``timeout_s`` both the connect
    and read timeouts and the overall time for one fetch, redirects included.
    """

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000
    timeout_s: float = 20.0


DEFAULT_LIMITS = FetchLimits()
