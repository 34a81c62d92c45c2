"""HTTP Basic auth for every route, when ``BASIC_AUTH_USER`` and ``BASIC_AUTH_PASS`` are set.

The header is decoded here, as bytes, and compared in constant time against the settings
encoded as UTF-8 (RFC 7617, browsers) and as Latin-1 (what ``requests``, and so Label Studio,
sends for a non-ASCII password): a non-ASCII user or password works, and a malformed header is a
401, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac

from flask import Flask, Response, request

from ml_backend.server.errors import error_response

HINT = (
    "basic auth required: set the same user and password in Label Studio "
    "(Project → Settings → Model → Authentication) as BASIC_AUTH_USER/BASIC_AUTH_PASS here"
)


def credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """``(user, password)`` bytes of an ``Authorization: Basic …`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip().encode("latin-1"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None


def _encodings(text: str) -> list[bytes]:
    out = [text.encode("utf-8")]
    with contextlib.suppress(UnicodeEncodeError):  # not Latin-1: UTF-8 only
        out.append(text.encode("latin-1"))
    return out


def _same(got: bytes, wanted: str) -> bool:
    results = [hmac.compare_digest(got, candidate) for candidate in _encodings(wanted)]
    return any(results)  # every candidate compared: the time does not tell which matched


def allowed(header: str | None, user: str, password: str) -> bool:
    got = credentials(header)
    if got is None:
        return False
    user_ok = _same(got[0], user)
    pass_ok = _same(got[1], password)
    return user_ok and pass_ok


def register(app: Flask, settings) -> None:
    if not settings.basic_auth_enabled:
        return

    @app.before_request
    def check_basic_auth() -> Response | None:
        header = request.headers.get("Authorization")
        if allowed(header, settings.basic_auth_user, settings.basic_auth_pass):
            return None
        response = error_response(401, HINT)
        response.headers["WWW-Authenticate"] = 'Basic realm="fm-inspect", charset="UTF-8"'
        return response
