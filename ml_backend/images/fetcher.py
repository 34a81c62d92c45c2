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

import logging
import os
import time
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from label_studio_sdk._extensions.label_studio_tools.core.utils.io import (
    concat_urls,
    encode_presign_fileuri,
)
from PIL import Image

from ml_backend.images.auth import LabelStudioToken
from ml_backend.images.decode import decode_image
from ml_backend.images.download import PRESIGN_PATH, Http, not_allowed
from ml_backend.images.errors import (
    DEFAULT_LIMITS,
    REASONS,
    TOKEN_ADVICE,
    FetchLimits,
    ImageFetchError,
)
from ml_backend.images.sources import decode_data_url, read_local_file
from ml_backend.images.urls import HostRule, redact, same_host, same_origin, url_origin
from model_zoo.data.rgb import to_rgb

logger = logging.getLogger(__name__)

__all__ = ["REASONS", "FetchLimits", "ImageFetchError", "ImageFetcher", "decode_image", "to_rgb"]

CLOUD_SCHEMES = ("s3", "gs", "azure-blob", "azure-spi")
MAX_REDIRECTS = 5
_HTTP = ("http", "https")


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
        self._http = Http(limits, self._ls_url)
        self._token = (
            LabelStudioToken(self._ls_url, self._api_key, limits.timeout_s)
            if self._ls_url and self._api_key
            else None
        )

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
        self._http.close()
        if self._token is not None:
            self._token.close()

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
            return decode_data_url(url, self._limits.max_bytes)
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
            local = read_local_file(
                url, self._local_root, self._limits.max_bytes, can_download=bool(self._ls_url)
            )
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
        if self._ls_url and same_host(url, self._ls_url):
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

    # ----------------------------------------------------------------------------- tokens

    def _is_ls_origin(self, url: str) -> bool:
        """Same scheme, host and port as LABEL_STUDIO_URL (what the token is sent to)."""
        return same_origin(url, self._ls_url)

    def _auth_headers(self) -> dict[str, str]:
        """{'Authorization': 'Token <key>' | 'Bearer <access>'} from label-studio-sdk."""
        if not self._api_key:
            raise ImageFetchError(
                "Downloading files from Label Studio needs a token: set LABEL_STUDIO_API_KEY to a "
                "personal access token or a legacy token (Label Studio > Account & Settings).",
                reason="missing_config",
            )
        self._require_ls_url("Downloading files from Label Studio")
        assert self._token is not None  # there is a URL and a key
        return self._token.headers()

    # ----------------------------------------------------------------------------- download

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
                raise not_allowed(url, redirected=_hop > 0, ls_url=self._ls_url)
            headers = self._auth_headers() if to_ls and (needs_token or self._api_key) else {}
            response = self._http.get(url, headers, deadline)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                target = urljoin(url, location)
                if to_ls and urlsplit(target).path.rstrip("/").endswith("/user/login"):
                    raise ImageFetchError(
                        f"Label Studio sent {redact(url, keep_query=True)} to its login page: "
                        "the request was not authenticated. " + TOKEN_ADVICE,
                        reason="unauthorized",
                        url=redact(url, keep_query=True),
                        status_code=response.status_code,
                    )
                if to_ls and PRESIGN_PATH.search(urlsplit(url).path) and trusted is None:
                    trusted = url_origin(target)  # the storage host Label Studio chose
                logger.debug("redirect %s -> %s", redact(url), redact(target))
                url = target
                continue
            return self._http.read_body(response, url, deadline, to_ls)
        raise ImageFetchError(
            f"More than {MAX_REDIRECTS} redirects while fetching the image (last: {redact(url)}).",
            reason="http_error",
            url=redact(url),
        )
