"""HTTP Basic auth for every route, when ``BASIC_AUTH_USER`` and ``BASIC_AUTH_PASS`` are set.

The header is decoded here, as bytes: credentials in any encoding (UTF-8 from Label Studio,
Latin-1 from old clients, junk) are compared in constant time against the UTF-8 bytes of the
settings, so a non-ASCII user or password works and a malformed header is a 401, never a 500.
"""

from __future__ import annotations

import base64
import binascii
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


def allowed(header: str | None, user: str, password: str) -> bool:
    got = credentials(header)
    if got is None:
        return False
    user_ok = hmac.compare_digest(got[0], user.encode("utf-8"))
    pass_ok = hmac.compare_digest(got[1], password.encode("utf-8"))
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
