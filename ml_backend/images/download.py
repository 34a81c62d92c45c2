"""HTTP for the image fetcher: one pooled, stateless session; a GET within the fetch's
deadline; the body read in chunks within the byte limit; the messages for refused and
unreachable hosts."""

from __future__ import annotations

import re
import threading
import time
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ml_backend.images.errors import (
    TOKEN_ADVICE,
    FetchLimits,
    ImageFetchError,
    timed_out,
    too_large,
)
from ml_backend.images.urls import redact, same_host, url_origin

_CHUNK_SIZE = 256 * 1024
_POOL_SIZE = 16  # kept-alive connections per host, shared by the serving threads
_USER_AGENT = "fm-inspect-ml-backend (image fetcher)"
# Presign endpoints of Label Studio: their redirect target is chosen by Label Studio, so trusted.
PRESIGN_PATH = re.compile(r"/(?:tasks|projects)/\d+/presign/?$")


class Http:
    """The shared HTTP session (built on first use; urllib3's pool is thread-safe) and the
    reads that stay within ``limits``. ``ls_url`` only shapes the messages."""

    def __init__(self, limits: FetchLimits, ls_url: str | None) -> None:
        self._limits = limits
        self._ls_url = ls_url
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def session(self) -> requests.Session:
        session = self._session
        if session is None:
            with self._lock:
                session = self._session
                if session is None:
                    session = requests.Session()
                    session.headers["User-Agent"] = _USER_AGENT
                    session.headers["Accept"] = "image/*,*/*;q=0.8"
                    # Stateless: no cookie from one host is ever sent back (or to another).
                    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                    adapter = HTTPAdapter(pool_maxsize=_POOL_SIZE)
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    self._session = session
        return session

    def get(self, url: str, headers: dict[str, str], deadline: float) -> requests.Response:
        """One GET, redirects not followed, streamed; the time left bounds connect and read."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise timed_out(url, self._limits.timeout_s)
        try:
            return self.session().get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(remaining, remaining),
            )
        except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout):
            raise timed_out(url, self._limits.timeout_s) from None
        except requests.exceptions.SSLError as exc:
            raise ImageFetchError(
                f"TLS error talking to {redact(url)}: {exc}. Check the certificate (or the "
                "http/https scheme in the URL).",
                reason="unreachable",
                url=redact(url),
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise unreachable(url, exc, self._ls_url) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise ImageFetchError(
                f"Invalid image URL {redact(url)}: {exc}.", reason="bad_url", url=redact(url)
            ) from None
        except requests.exceptions.RequestException as exc:
            raise unreachable(url, exc, self._ls_url) from None

    def read_body(
        self, response: requests.Response, url: str, deadline: float, to_ls: bool
    ) -> bytes:
        """The body of a final (non-redirect) answer; an error for any status but 200."""
        shown = redact(url, keep_query=to_ls)
        with response:
            check_status(response, url, shown, to_ls)
            max_bytes = self._limits.max_bytes
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise too_large(shown, int(length), max_bytes)
            return self._read_chunks(response.raw, shown, deadline)

    def _read_chunks(self, raw, shown: str, deadline: float) -> bytes:
        max_bytes, timeout_s = self._limits.max_bytes, self._limits.timeout_s
        chunks: list[bytes] = []
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out(shown, timeout_s)
            # Bound every socket read by the overall deadline (a slow drip defeats the read
            # timeout alone).
            conn = getattr(raw, "connection", None)
            sock = getattr(conn, "sock", None)
            if sock is not None:
                sock.settimeout(remaining)
            try:
                chunk = raw.read1(_CHUNK_SIZE, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError:
                raise timed_out(shown, timeout_s) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise timed_out(shown, timeout_s) from None
                raise ImageFetchError(
                    f"The connection broke while downloading {shown}: {exc}.",
                    reason="unreachable",
                    url=shown,
                ) from None
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:
                raise too_large(shown, None, max_bytes)
            chunks.append(chunk)


def check_status(response: requests.Response, url: str, shown: str, to_ls: bool) -> None:
    """Raise the error that says what a status other than 200 means here."""
    status = response.status_code
    if status in (401, 403):
        raise ImageFetchError(
            f"{'Label Studio' if to_ls else 'The image host'} answered {status} "
            f"{response.reason} for {shown}. "
            + (
                TOKEN_ADVICE
                if to_ls
                else "The token is only sent to LABEL_STUDIO_URL's host; this URL needs "
                "its own access (a presigned URL that may have expired?)."
            ),
            reason="unauthorized",
            url=shown,
            status_code=status,
        )
    if status == 200:
        return
    if to_ls and status == 404 and PRESIGN_PATH.search(urlsplit(url).path):
        hint = (
            " Label Studio could not resolve the cloud URI: check that a Cloud Storage"
            " of the task's project covers it and that the task id is right."
        )
    elif status == 404:
        hint = " The file does not exist (any more)."
    elif status >= 500:
        hint = " The server failed; its log says why."
    else:
        hint = ""
    raise ImageFetchError(
        f"HTTP {status} {response.reason} for {shown}." + hint,
        reason="http_error",
        url=shown,
        status_code=status,
    )


def not_allowed(url: str, redirected: bool, ls_url: str | None) -> ImageFetchError:
    _, host, port = url_origin(url)
    where = "a redirect led to" if redirected else "the image URL points at"
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        return ImageFetchError(
            f"Refused: {where} {redact(url)}, which is not an http(s) URL.",
            reason="not_allowed",
            url=redact(url),
        )
    return ImageFetchError(
        f"Refused: {where} {redact(url)}; host {host!r} is neither Label Studio's "
        f"({url_origin(ls_url)[1] if ls_url else 'LABEL_STUDIO_URL unset'}) nor in "
        f"ALLOWED_IMAGE_HOSTS. If you trust it, add {host!r} to ALLOWED_IMAGE_HOSTS "
        "('*.example.com' allows all subdomains).",
        reason="not_allowed",
        url=redact(url),
    )


def unreachable(url: str, exc: BaseException, ls_url: str | None) -> ImageFetchError:
    shown = redact(url)
    if same_host(url, ls_url):
        host = url_origin(url)[1]
        docker = (
            " Inside Docker, 'localhost' and 127.0.0.1 are the container itself: use the "
            "address of the machine or service that runs Label Studio."
            if host in ("localhost", "::1") or host.startswith("127.")
            else ""
        )
        advice = (
            f"Check LABEL_STUDIO_URL ({ls_url}): it must be an address this backend "
            "can reach Label Studio at." + docker
        )
    else:
        advice = "Check that the host is up and reachable from the backend."
    text = str(exc)
    if any(m in text for m in ("NameResolution", "Name or service", "getaddrinfo", "nodename")):
        cause = "the host name does not resolve"
    elif "refused" in text.lower():
        cause = "connection refused"
    else:
        cause = type(exc).__name__
    return ImageFetchError(
        f"Cannot connect to {shown} ({cause}). {advice}", reason="unreachable", url=shown
    )
