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


TOKEN_ADVICE = (
    "Check LABEL_STUDIO_API_KEY. It may be a legacy token (sent as 'Token <key>'; Label Studio "
    ">= 1.23 disables legacy tokens for new organizations unless it was started with "
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true, or the organization setting is turned on) or a "
    "personal access token (Account & Settings > Personal Access Token; it is exchanged at "
    "/api/token/refresh/ and must not be expired or revoked)."
)


def too_large(what: str, size: int | None, max_bytes: int) -> ImageFetchError:
    got = f"{size} bytes" if size is not None else "more than that"
    return ImageFetchError(
        f"Image {what} is too large: {got}, the limit is {max_bytes} bytes "
        "(FetchLimits.max_bytes). Raise the limit or downscale the image.",
        reason="too_large",
        url=what if "://" in what else None,
    )


def timed_out(url: str, timeout_s: float) -> ImageFetchError:
    return ImageFetchError(
        f"Timed out after {timeout_s:g} s fetching {url} "
        "(FetchLimits.timeout_s). Check that the host is reachable and fast enough, or raise "
        "the timeout.",
        reason="timeout",
        url=url,
    )
