"""The commands about the service itself: ``serve`` (the development server), ``check``
(settings and the default model, then /health), ``versions``, ``rollback`` and
``settings-table``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=None, help="interface (default: HOST, else loopback without basic auth)"
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT or 9090)")


def add_no_arguments(parser: argparse.ArgumentParser) -> None:
    """``check`` takes none."""


def _settings_and_app():
    """(settings, app), or None after printing the configuration error."""
    from ml_backend.server.app import create_app
    from ml_backend.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None
    return settings, create_app(settings)


def run_serve(args: argparse.Namespace) -> int:
    built = _settings_and_app()
    if built is None:
        return 2
    settings, app = built
    app.run(
        host=args.host or settings.bind_host,
        port=args.port or settings.port,
        threaded=True,
        use_reloader=False,
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    built = _settings_and_app()
    if built is None:
        return 2
    health = built[1].test_client().get("/health").get_json()
    print(json.dumps(health, indent=2))
    return 1 if health["errors"] else 0


def add_versions_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default=None)


def run_versions(args: argparse.Namespace) -> int:
    from ml_backend.serving.versions import store_for, trained_versions
    from ml_backend.settings import Settings

    for info in trained_versions(store_for(Settings.from_env()), args.project):
        accuracy = info.meta.get("metrics", {}).get("accuracy")
        print(
            f"{'*' if info.live else ' '} {info.scope:<14} {info.version:<12} "
            f"parent={info.meta.get('parent')} labels={info.meta.get('label_count')} "
            f"accuracy={accuracy if accuracy is None else round(accuracy, 3)}"
        )
    return 0


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", required=True)
    parser.add_argument("--version", required=True, help="e.g. p3-v1 (see `versions`)")


def run_rollback(args: argparse.Namespace) -> int:
    from ml_backend.serving.versions import StoreError, make_live, store_for
    from ml_backend.settings import Settings

    try:
        make_live(store_for(Settings.from_env()), args.project, args.version)
    except StoreError as exc:
        print(f"rollback failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"project {args.project}: live version is now {args.version} "
        "(every worker switches on its next request)"
    )
    return 0


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write", default=None, help="update the table in this Markdown page")


def run_settings_table(args: argparse.Namespace) -> int:
    from ml_backend.settings import settings_table, with_settings_table

    if args.write is None:
        print(settings_table(), end="")
        return 0
    target = Path(args.write)
    target.write_text(with_settings_table(target.read_text()))
    print(f"updated the settings table in {target}")
    return 0
