"""Turn the image URL of a Label Studio task into a PIL image, safely.

Label Studio puts one of these in ``task["data"]["image"]``:

* ``/data/upload/<project>/<file>`` and ``/storage-data/uploaded/?filepath=...``: files uploaded
  to Label Studio, downloaded from it with the API token;
* ``/data/local-files/?d=<path>``: Local Storage files, read from ``local_files_root`` when the
  backend sees the same directory, otherwise downloaded from Label Studio;
* ``s3://``, ``gs://``, ``azure-blob://``, ``azure-spi://``: cloud storage, resolved through Label
  Studio's presign endpoint (needs the task id), which redirects to the cloud host;
* ``http(s)://...``: downloaded directly, only from Label Studio itself or from hosts listed in
  ``ALLOWED_IMAGE_HOSTS`` (no server-side request forgery, also not through redirects);
* ``data:image/...;base64,...``: decoded in memory.

Tokens are handled by label-studio-sdk: a legacy token is sent as ``Authorization: Token <key>``;
a personal access token (a JWT refresh token) is exchanged at ``/api/token/refresh/`` for a
short-lived access token sent as ``Authorization: Bearer <access>`` and refreshed when it expires.
The token is only ever sent to the Label Studio origin, and never logged.

Every failure raises :class:`ImageFetchError` with a machine-readable ``reason`` and a message that
says what to do about it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import posixpath
import re
import stat
import threading
import time
from collections.abc import Iterable
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes, urljoin, urlsplit

import requests
import urllib3
from label_studio_sdk._extensions.label_studio_tools.core.utils.io import (
    concat_urls,
    encode_presign_fileuri,
    safe_build_path,
)
from PIL import Image
from requests.adapters import HTTPAdapter

from ml_backend.images.decode import decode_image
from ml_backend.images.errors import DEFAULT_LIMITS, REASONS, FetchLimits, ImageFetchError
from ml_backend.images.urls import HostRule, redact, url_origin
from ml_backend.labelstudio import client as labelstudio_client
from model_zoo.data.rgb import to_rgb

logger = logging.getLogger(__name__)

__all__ = ["REASONS", "FetchLimits", "ImageFetchError", "ImageFetcher", "decode_image", "to_rgb"]


CLOUD_SCHEMES = ("s3", "gs", "azure-blob", "azure-spi")
MAX_REDIRECTS = 5
_CHUNK_SIZE = 256 * 1024
_HTTP = ("http", "https")
# Presign endpoints of Label Studio: their redirect target is chosen by Label Studio, so trusted.
_PRESIGN_PATH = re.compile(r"/(?:tasks|projects)/\d+/presign/?$")
_POOL_SIZE = 16  # kept-alive connections per host, shared by the serving threads
_USER_AGENT = "fm-inspect-ml-backend (image fetcher)"

_TOKEN_ADVICE = (
    "Check LABEL_STUDIO_API_KEY. It may be a legacy token (sent as 'Token <key>'; Label Studio "
    ">= 1.23 disables legacy tokens for new organizations unless it was started with "
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true, or the organization setting is turned on) or a "
    "personal access token (Account & Settings > Personal Access Token; it is exchanged at "
    "/api/token/refresh/ and must not be expired or revoked)."
)


class ImageFetcher:
    """Fetch task images from Label Studio and allowed hosts, within :class:`FetchLimits`.

    ``label_studio_url`` and ``api_key`` are ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY``
    (legacy token or personal access token). ``allowed_hosts`` lists the hosts besides Label
    Studio that absolute http(s) image URLs may point at (``ALLOWED_IMAGE_HOSTS``).
    ``local_files_root`` is the directory Label Studio serves ``/data/local-files/?d=`` from
    (``LOCAL_FILES_DOCUMENT_ROOT``), when the backend sees it too.

    Nothing contacts Label Studio until the first fetch. Instances are safe to share between
    threads.
    """

    def __init__(
        self,
        label_studio_url: str | None,
        api_key: str | None,
        *,
        allowed_hosts: Iterable[str] = (),
        local_files_root: str | None = None,
        limits: FetchLimits = DEFAULT_LIMITS,
    ) -> None:
        self._ls_url = (label_studio_url or "").strip().rstrip("/") or None
        self._api_key = (api_key or "").strip() or None
        if isinstance(allowed_hosts, str):
            allowed_hosts = allowed_hosts.split(",")
        self._host_rules = [HostRule(h) for h in allowed_hosts if h and h.strip()]
        self._limits = limits
        self._local_root: str | None = None
        if local_files_root:
            root = os.path.abspath(local_files_root)
            if root == os.path.abspath(os.sep):
                logger.warning(
                    "local_files_root '/' ignored: it would make every file on this machine "
                    "readable through /data/local-files/ URLs; set it to Label Studio's "
                    "LOCAL_FILES_DOCUMENT_ROOT."
                )
            else:
                self._local_root = root
        if self._ls_url and not self._ls_url.startswith(("http://", "https://")):
            logger.warning(
                "LABEL_STUDIO_URL %r does not start with http:// or https://; fetching Label "
                "Studio files will fail.",
                self._ls_url,
            )
        self._client: Any = None  # label_studio_sdk.LabelStudio, built on first use
        self._client_lock = threading.Lock()
        self._http: requests.Session | None = None  # built on first use

    @classmethod
    def from_settings(cls, settings) -> ImageFetcher:
        """Build from the backend's :class:`ml_backend.settings.Settings`."""
        return cls(
            settings.label_studio_url or None,
            settings.api_key or None,
            allowed_hosts=settings.allowed_image_hosts,
            local_files_root=settings.local_files_root or None,
            limits=FetchLimits(
                max_bytes=settings.max_image_bytes,
                max_pixels=settings.max_image_pixels,
                timeout_s=settings.image_timeout,
            ),
        )

    def __repr__(self) -> str:  # never shows the token
        hosts = [r.entry for r in self._host_rules]
        return (
            f"ImageFetcher(label_studio_url={self._ls_url!r}, api_key={'set' if self._api_key else None}, "
            f"allowed_hosts={hosts!r}, local_files_root={self._local_root!r}, limits={self._limits!r})"
        )

    @property
    def limits(self) -> FetchLimits:
        return self._limits

    def close(self) -> None:
        """Close pooled HTTP connections, the SDK client's included (a later fetch opens new
        ones)."""
        with self._client_lock:
            session, self._http = self._http, None
            client, self._client = self._client, None
        if session is not None:
            session.close()
        if client is not None:
            labelstudio_client.close(client)

    def __enter__(self) -> ImageFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- public API

    def fetch_image(self, url: str, task_id: int | None = None) -> Image.Image:
        """Fetch and decode ``url``: a fully loaded 8-bit RGB image at its original size, with
        the EXIF orientation applied (as browsers do, so it matches Label Studio's
        ``original_width``/``original_height``)."""
        return self.decode(url, self.fetch_bytes(url, task_id=task_id))

    def decode(self, url: str, data: bytes) -> Image.Image:
        """The image ``data`` fetched from ``url`` (named, redacted, in error messages)."""
        shown = redact(url, keep_query=url.startswith("/") or self._is_ls_origin(url))
        return decode_image(data, max_pixels=self._limits.max_pixels, source=shown)

    def fetch_bytes(self, url: str, task_id: int | None = None) -> bytes:
        """The raw bytes behind ``url`` (see the module docstring for the URL kinds)."""
        if not isinstance(url, str) or not url.strip():
            raise ImageFetchError(
                f"Image URL is empty or not a string: {url!r}. Check the task's data field.",
                reason="bad_url",
            )
        url = url.strip()
        if url.startswith("data:"):
            return self._decode_data_url(url)
        if url.startswith("//"):
            raise ImageFetchError(
                f"Scheme-relative URL {redact(url)} is not supported: use http(s)://.",
                reason="bad_url",
                url=redact(url),
            )
        if url.startswith(("upload/", "/upload/")):
            url = "/data/" + url.lstrip("/")  # older exports store the bare upload key
        scheme = urlsplit(url).scheme.lower() if not url.startswith("/") else ""

        if scheme in CLOUD_SCHEMES:
            return self._fetch_cloud(url, task_id)
        if scheme in ("http", "https"):
            return self._download(url)
        if scheme:
            raise ImageFetchError(
                f"Unsupported URL scheme '{scheme}:' in {redact(url)}. Supported: http(s) URLs, "
                f"Label Studio paths (/data/upload/..., /data/local-files/?d=...), "
                f"{', '.join(s + '://' for s in CLOUD_SCHEMES)} and data: URLs.",
                reason="bad_url",
                url=redact(url),
            )
        # A path on the Label Studio server.
        if url.startswith("/data/local-files"):
            local = self._read_local_file(url)
            if local is not None:
                return local
        return self._download(self._ls_join(url), needs_token=True)

    def is_allowed(self, url: str) -> bool:
        """True if an absolute http(s) URL may be downloaded: its host:port is Label Studio's,
        or its hostname matches ALLOWED_IMAGE_HOSTS."""
        try:
            scheme, host, port = url_origin(url)
        except ImageFetchError:
            return False
        if scheme not in ("http", "https") or not host:
            return False
        if self._ls_url and self._is_ls_host(url):
            return True
        return any(rule.matches(host, port) for rule in self._host_rules)

    # ----------------------------------------------------------------------------- URL kinds

    def _require_ls_url(self, what: str) -> str:
        if not self._ls_url:
            raise ImageFetchError(
                f"{what} needs Label Studio's address: set LABEL_STUDIO_URL (e.g. "
                "http://label-studio:8080; the address the backend can reach Label Studio at).",
                reason="missing_config",
            )
        if not self._ls_url.startswith(("http://", "https://")):
            raise ImageFetchError(
                f"LABEL_STUDIO_URL={self._ls_url!r} must start with http:// or https://.",
                reason="missing_config",
            )
        return self._ls_url

    def _ls_join(self, path: str) -> str:
        base = self._require_ls_url(f"The image URL {redact(path, keep_query=True)}")
        return concat_urls(base, path)

    def _fetch_cloud(self, uri: str, task_id: int | None) -> bytes:
        if task_id is None:
            raise ImageFetchError(
                f"Cloud storage URI {redact(uri)} can only be resolved through Label Studio's "
                "presign endpoint, which needs the task id: pass task_id (the task's 'id').",
                reason="missing_config",
                url=redact(uri),
            )
        presign = f"/tasks/{int(task_id)}/presign/?fileuri={encode_presign_fileuri(uri)}"
        return self._download(self._ls_join(presign), needs_token=True)

    def _read_local_file(self, url: str) -> bytes | None:
        """Read a /data/local-files/?d= file from local_files_root; None to download it instead."""
        values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("d")
        rel = values[-1] if values else ""  # as Label Studio's view: decoded once, last one wins
        if not rel:
            raise ImageFetchError(
                f"Local Storage URL {redact(url, keep_query=True)} has no file path (?d=...).",
                reason="bad_url",
                url=redact(url, keep_query=True),
            )
        if self._local_root is None:
            return None
        try:
            path = safe_build_path(self._local_root, posixpath.normpath(rel).lstrip("/"))
        except ValueError as exc:
            raise ImageFetchError(
                f"Refused Local Storage path {rel!r}: it leads outside local_files_root "
                f"({self._local_root}).",
                reason="not_allowed",
                url=redact(url, keep_query=True),
            ) from exc
        real_root = os.path.realpath(self._local_root)
        real = os.path.realpath(path)
        if os.path.commonpath([real_root, real]) != real_root:
            # a symbolic link under the root that points outside it: never followed
            raise ImageFetchError(
                f"Refused Local Storage path {rel!r}: it leads outside local_files_root "
                f"({self._local_root}).",
                reason="not_allowed",
                url=redact(url, keep_query=True),
            )
        try:
            data = self._read_regular_file(real, rel, url)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if self._ls_url:
                logger.info(
                    "%s is not under local_files_root %s; downloading it from Label Studio",
                    rel,
                    self._local_root,
                )
                return None
            raise ImageFetchError(
                f"Local Storage file {rel!r} not found under local_files_root "
                f"({self._local_root}). Set LOCAL_FILES_DOCUMENT_ROOT to the directory Label "
                "Studio serves Local Storage from, or set LABEL_STUDIO_URL to download it.",
                reason="http_error",
                url=redact(url, keep_query=True),
            ) from None
        except PermissionError as exc:
            raise ImageFetchError(
                f"Local Storage file {path} is not readable by the backend: {exc.strerror}.",
                reason="not_allowed",
                url=redact(url, keep_query=True),
            ) from exc
        if len(data) > self._limits.max_bytes:
            raise self._too_large(path, len(data))
        return data

    def _read_regular_file(self, path: str, rel: str, url: str) -> bytes:
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
            if info.st_size > self._limits.max_bytes:
                raise self._too_large(path, info.st_size)
            return fh.read(self._limits.max_bytes + 1)

    def _decode_data_url(self, url: str) -> bytes:
        header, comma, payload = url[len("data:") :].partition(",")
        if not comma:
            raise ImageFetchError(
                "Malformed data: URL (no ',' between the media type and the data).",
                reason="bad_url",
                url=redact(url),
            )
        params = [p.strip().lower() for p in header.split(";")]
        max_bytes = self._limits.max_bytes
        if "base64" in params[1:]:
            if "%" in payload:
                payload = unquote_to_bytes(payload).decode("ascii", "replace")
            payload = "".join(payload.split()).replace("-", "+").replace("_", "/")
            if len(payload) // 4 * 3 > max_bytes + 3:
                raise self._too_large("data: URL", len(payload) // 4 * 3)
            try:
                data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ImageFetchError(
                    f"data: URL has invalid base64 data: {exc}.", reason="bad_url", url=redact(url)
                ) from exc
        else:
            if len(payload) > 3 * (max_bytes + 1):
                raise self._too_large("data: URL", len(payload))
            data = unquote_to_bytes(payload)
        if len(data) > max_bytes:
            raise self._too_large("data: URL", len(data))
        return data

    # ----------------------------------------------------------------------------- tokens

    def _is_ls_host(self, url: str) -> bool:
        """Same host and port as LABEL_STUDIO_URL (what may be fetched without the allow-list)."""
        if not self._ls_url:
            return False
        _, host, port = url_origin(url)
        _, ls_host, ls_port = url_origin(self._ls_url)
        return bool(host) and (host, port) == (ls_host, ls_port)

    def _is_ls_origin(self, url: str) -> bool:
        """Same scheme, host and port as LABEL_STUDIO_URL (what the token is sent to)."""
        return bool(self._ls_url) and url_origin(url) == url_origin(self._ls_url or "")

    def _sdk_client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    # The SDK joins "api/token/refresh/" onto base_url: a trailing slash keeps a
                    # path prefix such as http://host/label-studio.
                    self._client = labelstudio_client.make_client(
                        self._ls_url + "/", self._api_key, timeout=self._limits.timeout_s
                    )
        return self._client

    def _auth_headers(self) -> dict[str, str]:
        """{'Authorization': 'Token <key>' | 'Bearer <access>'} from label-studio-sdk."""
        if not self._api_key:
            raise ImageFetchError(
                "Downloading files from Label Studio needs a token: set LABEL_STUDIO_API_KEY to a "
                "personal access token or a legacy token (Label Studio > Account & Settings).",
                reason="missing_config",
            )
        self._require_ls_url("Downloading files from Label Studio")
        refresh_url = concat_urls(self._ls_url or "", "/api/token/refresh/")
        try:
            import httpx

            headers = labelstudio_client.auth_headers(self._sdk_client())
        except labelstudio_client.ApiError as exc:
            detail = exc.body.get("detail") if isinstance(exc.body, dict) else exc.body
            if exc.status_code in (401, 403) or exc.status_code is None:
                raise ImageFetchError(
                    f"Label Studio refused the API token ({exc.status_code}: {detail}). "
                    + _TOKEN_ADVICE,
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
            raise self._unreachable(refresh_url, exc) from None
        except ValueError as exc:  # a non-JSON answer from the refresh endpoint
            raise ImageFetchError(
                f"{refresh_url} did not answer like Label Studio's token refresh endpoint "
                f"({type(exc).__name__}). Check LABEL_STUDIO_URL.",
                reason="http_error",
                url=refresh_url,
            ) from None
        return headers

    # ----------------------------------------------------------------------------- download

    def _session(self) -> requests.Session:
        """The shared HTTP session (urllib3's connection pool is thread-safe)."""
        session = self._http
        if session is None:
            with self._client_lock:
                session = self._http
                if session is None:
                    session = requests.Session()
                    session.headers["User-Agent"] = _USER_AGENT
                    session.headers["Accept"] = "image/*,*/*;q=0.8"
                    # Stateless: no cookie from one host is ever sent back (or to another).
                    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                    adapter = HTTPAdapter(pool_maxsize=_POOL_SIZE)
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    self._http = session
        return session

    def _download(self, url: str, needs_token: bool = False) -> bytes:
        deadline = time.monotonic() + self._limits.timeout_s
        try:
            return self._download_once(url, deadline, needs_token)
        except ImageFetchError as exc:
            # Label Studio may keep uploads in a cloud default storage, reachable only through
            # its storage proxy (what label-studio-sdk tries first).
            path = urlsplit(url).path
            if exc.status_code != 404 or not self._is_ls_origin(url) or "/data/upload/" not in path:
                raise
            key = path.split("/data/", 1)[1]
            fallback = concat_urls(self._ls_url or "", f"/storage-data/uploaded/?filepath={key}")
            logger.debug("%s answered 404; trying the storage proxy", redact(url))
            try:
                return self._download_once(fallback, deadline, needs_token)
            except ImageFetchError as exc2:
                if exc2.status_code in (400, 404):
                    raise exc from None
                raise

    def _download_once(self, url: str, deadline: float, needs_token: bool) -> bytes:
        trusted: tuple[str, str, int | None] | None = None  # origin LS's presign redirected to
        for _hop in range(MAX_REDIRECTS + 1):
            to_ls = self._is_ls_origin(url)
            origin = url_origin(url)
            chosen_by_ls = trusted is not None and origin == trusted and origin[0] in _HTTP
            if not (chosen_by_ls or self.is_allowed(url)):
                raise self._not_allowed(url, redirected=_hop > 0)
            headers = self._auth_headers() if to_ls and (needs_token or self._api_key) else {}
            response = self._get(url, headers, deadline)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                target = urljoin(url, location)
                if to_ls and urlsplit(target).path.rstrip("/").endswith("/user/login"):
                    raise ImageFetchError(
                        f"Label Studio sent {redact(url, keep_query=True)} to its login page: "
                        "the request was not authenticated. " + _TOKEN_ADVICE,
                        reason="unauthorized",
                        url=redact(url, keep_query=True),
                        status_code=response.status_code,
                    )
                if to_ls and _PRESIGN_PATH.search(urlsplit(url).path) and trusted is None:
                    trusted = url_origin(target)  # the storage host Label Studio chose
                logger.debug("redirect %s -> %s", redact(url), redact(target))
                url = target
                continue
            return self._read_body(response, url, deadline, to_ls)
        raise ImageFetchError(
            f"More than {MAX_REDIRECTS} redirects while fetching the image (last: {redact(url)}).",
            reason="http_error",
            url=redact(url),
        )

    def _get(self, url: str, headers: dict[str, str], deadline: float) -> requests.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout(url)
        try:
            return self._session().get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(remaining, remaining),
            )
        except (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout):
            raise self._timeout(url) from None
        except requests.exceptions.SSLError as exc:
            raise ImageFetchError(
                f"TLS error talking to {redact(url)}: {exc}. Check the certificate (or the "
                "http/https scheme in the URL).",
                reason="unreachable",
                url=redact(url),
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise self._unreachable(url, exc) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise ImageFetchError(
                f"Invalid image URL {redact(url)}: {exc}.", reason="bad_url", url=redact(url)
            ) from None
        except requests.exceptions.RequestException as exc:
            raise self._unreachable(url, exc) from None

    def _read_body(
        self, response: requests.Response, url: str, deadline: float, to_ls: bool
    ) -> bytes:
        shown = redact(url, keep_query=to_ls)
        with response:
            status = response.status_code
            if status in (401, 403):
                raise ImageFetchError(
                    f"{'Label Studio' if to_ls else 'The image host'} answered {status} "
                    f"{response.reason} for {shown}. "
                    + (
                        _TOKEN_ADVICE
                        if to_ls
                        else "The token is only sent to LABEL_STUDIO_URL's host; this URL needs "
                        "its own access (a presigned URL that may have expired?)."
                    ),
                    reason="unauthorized",
                    url=shown,
                    status_code=status,
                )
            if status != 200:
                if to_ls and status == 404 and _PRESIGN_PATH.search(urlsplit(url).path):
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
            max_bytes = self._limits.max_bytes
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise self._too_large(shown, int(length))
            raw = response.raw
            chunks: list[bytes] = []
            total = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout(shown)
                # Bound every socket read by the overall deadline (a slow drip defeats the read
                # timeout alone).
                conn = getattr(raw, "connection", None)
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    sock.settimeout(remaining)
                try:
                    chunk = raw.read1(_CHUNK_SIZE, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError:
                    raise self._timeout(shown) from None
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    if time.monotonic() >= deadline:
                        raise self._timeout(shown) from None
                    raise ImageFetchError(
                        f"The connection broke while downloading {shown}: {exc}.",
                        reason="unreachable",
                        url=shown,
                    ) from None
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise self._too_large(shown, None)
                chunks.append(chunk)
            return b"".join(chunks)

    # ----------------------------------------------------------------------------- errors

    def _not_allowed(self, url: str, redirected: bool) -> ImageFetchError:
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
            f"({url_origin(self._ls_url)[1] if self._ls_url else 'LABEL_STUDIO_URL unset'}) nor in "
            f"ALLOWED_IMAGE_HOSTS. If you trust it, add {host!r} to ALLOWED_IMAGE_HOSTS "
            "('*.example.com' allows all subdomains).",
            reason="not_allowed",
            url=redact(url),
        )

    def _too_large(self, what: str, size: int | None) -> ImageFetchError:
        got = f"{size} bytes" if size is not None else "more than that"
        return ImageFetchError(
            f"Image {what} is too large: {got}, the limit is {self._limits.max_bytes} bytes "
            "(FetchLimits.max_bytes). Raise the limit or downscale the image.",
            reason="too_large",
            url=what if "://" in what else None,
        )

    def _timeout(self, url: str) -> ImageFetchError:
        return ImageFetchError(
            f"Timed out after {self._limits.timeout_s:g} s fetching {url} "
            "(FetchLimits.timeout_s). Check that the host is reachable and fast enough, or raise "
            "the timeout.",
            reason="timeout",
            url=url,
        )

    def _unreachable(self, url: str, exc: BaseException) -> ImageFetchError:
        shown = redact(url)
        if self._is_ls_host(url):
            host = url_origin(url)[1]
            docker = (
                " Inside Docker, 'localhost' and 127.0.0.1 are the container itself: use the "
                "address of the machine or service that runs Label Studio."
                if host in ("localhost", "::1") or host.startswith("127.")
                else ""
            )
            advice = (
                f"Check LABEL_STUDIO_URL ({self._ls_url}): it must be an address this backend "
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


# --------------------------------------------------------------------------------- decoding
