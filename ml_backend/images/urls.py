"""URL pieces for the image fetcher: origins, redaction for messages and logs, and the
``ALLOWED_IMAGE_HOSTS`` rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from ml_backend.images.errors import ImageFetchError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, hostname, port with the scheme's default filled in) of an absolute URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ImageFetchError(
            f"Invalid port in URL {redact(url)}.", reason="bad_url", url=redact(url)
        ) from exc
    host = (parts.hostname or "").rstrip(".")
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme)


def redact(url: str, keep_query: bool = False) -> str:
    """A URL fit for messages and logs: no userinfo, no query values unless ``keep_query``."""
    if url.startswith("data:"):
        return url[:40] + ("..." if len(url) > 40 else "")
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query and not keep_query:
        query = "&".join(f"{kv.partition('=')[0]}=..." for kv in query.split("&"))
    return parts._replace(netloc=netloc, query=query, fragment="").geturl()


class HostRule:
    """One ALLOWED_IMAGE_HOSTS entry: ``host``, ``host:port`` or ``*.suffix`` (any subdomain)."""

    def __init__(self, entry: str) -> None:
        entry = entry.strip().lower()
        self.entry = entry
        self.wildcard = entry.startswith("*.")
        hostport = entry[2:] if self.wildcard else entry
        try:
            parts = urlsplit("//" + hostport)
            self.host = (parts.hostname or "").rstrip(".")
            self.port = parts.port
        except ValueError:
            parts, self.host, self.port = None, "", None
        if not self.host or "*" in self.host or parts is None or parts.path or parts.query:
            raise ValueError(
                f"Invalid ALLOWED_IMAGE_HOSTS entry {entry!r}: use a hostname ('images.example.com'),"
                " 'host:port', or a '*.example.com' wildcard."
            )

    def matches(self, host: str, port: int | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def same_host(url: str, ls_url: str | None) -> bool:
    """Same host and port as LABEL_STUDIO_URL (what may be fetched without the allow-list)."""
    if not ls_url:
        return False
    _, host, port = url_origin(url)
    _, ls_host, ls_port = url_origin(ls_url)
    return bool(host) and (host, port) == (ls_host, ls_port)


def same_origin(url: str, ls_url: str | None) -> bool:
    """Same scheme, host and port as LABEL_STUDIO_URL (what the token is sent to)."""
    return bool(ls_url) and url_origin(url) == url_origin(ls_url or "")
