"""``python -m ml_backend COMMAND``: serve (development server), check, bench, demo."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the backend with the development server")
    serve.add_argument("--host", default=None, help="interface (default: HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT or 9090)")
    sub.add_parser("check", help="load settings and the default model, print /health, exit")
    from ml_backend import bench

    bench_parser = sub.add_parser("bench", help="/predict latency vs bare forward pass")
    bench.add_arguments(bench_parser)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench.run(args)

    from ml_backend.app import create_app
    from ml_backend.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    if args.command == "check":
        health = app.test_client().get("/health").get_json()
        print(json.dumps(health, indent=2))
        return 1 if health["errors"] else 0
    app.run(
        host=args.host or settings.host,
        port=args.port or settings.port,
        threaded=True,
        use_reloader=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
