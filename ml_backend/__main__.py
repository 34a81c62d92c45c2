"""``python -m ml_backend COMMAND``: serve (development server), check, bench, demo."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_backend", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the backend with the development server")
    serve.add_argument(
        "--host", default=None, help="interface (default: HOST, else loopback without basic auth)"
    )
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT or 9090)")
    sub.add_parser("check", help="load settings and the default model, print /health, exit")
    from ml_backend.tools import bench_predict as bench

    bench_parser = sub.add_parser("bench", help="/predict latency vs bare forward pass")
    bench.add_arguments(bench_parser)
    versions = sub.add_parser("versions", help="list trained versions (all projects or one)")
    versions.add_argument("--project", default=None)
    rollback = sub.add_parser("rollback", help="make an earlier trained version live again")
    rollback.add_argument("--project", required=True)
    rollback.add_argument("--version", required=True, help="e.g. p3-v1 (see `versions`)")
    bench_training = sub.add_parser(
        "bench-training", help="training time per round vs labels; webhook answer time"
    )
    from ml_backend.tools import bench_training as bench_training_module

    bench_training_module.add_arguments(bench_training)
    from ml_backend.tools import export_images

    export_images.add_arguments(
        sub.add_parser("export-images", help="download a project's task images to a folder")
    )
    from ml_backend.tools import measure_report

    measure_report.add_arguments(
        sub.add_parser("measure", help="CSV of defect measures per brush region of a project")
    )
    from ml_backend.tools import queue_commands as queue_order_cli

    queue_order_cli.add_arguments(
        sub.add_parser("reorder", help="order a project's labeling queue by acquisition (now)")
    )
    queue_order_cli.add_bench_arguments(
        sub.add_parser("bench-queue", help="time to apply a queue round to N tasks of a real LS")
    )
    table = sub.add_parser("settings-table", help="print the configuration table (Markdown)")
    table.add_argument("--write", default=None, help="update the table in this Markdown page")
    from ml_backend.tools import prelabel_command

    prelabel_command.add_arguments(
        sub.add_parser("prelabel", help="pre-label a whole project in chunks (a resumable job)")
    )
    from ml_backend.tools import bench_prelabel

    bench_prelabel.add_arguments(
        sub.add_parser(
            "bench-prelabel", help="bulk pre-label tasks/s: 1 and 2 workers vs the model"
        )
    )
    from ml_backend.tools import bench_memory

    bench_memory.add_arguments(
        sub.add_parser("bench-memory", help="worker RSS for /predict of big images vs pixel budget")
    )
    args = parser.parse_args(argv)
    if args.command == "bench-memory":
        return bench_memory.run(args)
    if args.command == "settings-table":
        return _settings_table(args.write)
    if args.command == "bench-prelabel":
        return bench_prelabel.run(args)
    if args.command == "prelabel":
        return prelabel_command.run(args)
    if args.command == "reorder":
        return queue_order_cli.run(args)
    if args.command == "bench-queue":
        return queue_order_cli.run_bench(args)
    if args.command == "measure":
        return measure_report.run(args)
    if args.command == "export-images":
        return export_images.run(args)
    if args.command == "bench":
        return bench.run(args)
    if args.command == "bench-training":
        return bench_training_module.run(args)
    if args.command in {"versions", "rollback"}:
        return _versions(args)

    from ml_backend.server.app import create_app
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
        host=args.host or settings.bind_host,
        port=args.port or settings.port,
        threaded=True,
        use_reloader=False,
    )
    return 0


def _settings_table(page: str | None) -> int:
    from pathlib import Path

    from ml_backend.settings import settings_table, with_settings_table

    if page is None:
        print(settings_table(), end="")
        return 0
    target = Path(page)
    target.write_text(with_settings_table(target.read_text()))
    print(f"updated the settings table in {target}")
    return 0


def _versions(args) -> int:
    from ml_backend.serving.versions import StoreError, make_live, store_for, trained_versions
    from ml_backend.settings import Settings

    store = store_for(Settings.from_env())
    if args.command == "rollback":
        try:
            make_live(store, args.project, args.version)
        except StoreError as exc:
            print(f"rollback failed: {exc}", file=sys.stderr)
            return 1
        print(
            f"project {args.project}: live version is now {args.version} "
            "(every worker switches on its next request)"
        )
        return 0
    for info in trained_versions(store, args.project):
        accuracy = info.meta.get("metrics", {}).get("accuracy")
        print(
            f"{'*' if info.live else ' '} {info.scope:<14} {info.version:<12} "
            f"parent={info.meta.get('parent')} labels={info.meta.get('label_count')} "
            f"accuracy={accuracy if accuracy is None else round(accuracy, 3)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
