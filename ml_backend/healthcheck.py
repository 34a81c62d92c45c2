"""Container health check: ``python -m ml_backend.healthcheck`` exits 0 when /health answers UP.

Uses the same PORT and basic-auth settings as the server, so it works with auth switched on.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "9090")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health")
    user, password = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            body = json.loads(response.read())
    except Exception as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if body.get("status") == "UP" else 1


if __name__ == "__main__":
    raise SystemExit(main())
