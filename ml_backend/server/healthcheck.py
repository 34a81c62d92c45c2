"""Container health check: ``python -m ml_backend.server.healthcheck`` exits 0 when /health answers UP.

Uses the same PORT and basic-auth settings as the server, so it works with auth switched on.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.request

from ml_backend.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    request = urllib.request.Request(f"http://127.0.0.1:{settings.port}/health")
    if settings.basic_auth_enabled:
        credentials = f"{settings.basic_auth_user}:{settings.basic_auth_pass}"
        token = base64.b64encode(credentials.encode()).decode()
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
