"""``python -m ml_backend COMMAND``: serve (development server), check, benchmarks, tools.

Each command is a pair of functions in a module of ``ml_backend.tools``: one adds its
arguments to its parser, the other runs it and returns the exit code. ``COMMANDS`` maps the
command name to them; adding a command is one entry here.
"""

from __future__ import annotations

import argparse
import importlib

_SERVICE = "ml_backend.tools.service_commands"
_QUEUE = "ml_backend.tools.queue_commands"

COMMANDS: dict[str, tuple[str, str, str, str]] = {
    # name: (module, its add-arguments function, its run function, one-line help)
    "serve": (
        _SERVICE,
        "add_serve_arguments",
        "run_serve",
        "run the backend with the development server",
    ),
    "check": (
        _SERVICE,
        "add_no_arguments",
        "run_check",
        "load settings and the default model, print /health, exit",
    ),
    "bench": (
        "ml_backend.tools.bench_predict",
        "add_arguments",
        "run",
        "/predict latency vs bare forward pass",
    ),
    "versions": (
        _SERVICE,
        "add_versions_arguments",
        "run_versions",
        "list trained versions (all projects or one)",
    ),
    "rollback": (
        _SERVICE,
        "add_rollback_arguments",
        "run_rollback",
        "make an earlier trained version live again",
    ),
    "bench-training": (
        "ml_backend.tools.bench_training",
        "add_arguments",
        "run",
        "training time per round vs labels; webhook answer time",
    ),
    "export-images": (
        "ml_backend.tools.export_images",
        "add_arguments",
        "run",
        "download a project's task images to a folder",
    ),
    "measure": (
        "ml_backend.tools.measure_report",
        "add_arguments",
        "run",
        "CSV of defect measures per brush region of a project",
    ),
    "reorder": (
        _QUEUE,
        "add_arguments",
        "run",
        "order a project's labeling queue by acquisition (now)",
    ),
    "bench-queue": (
        _QUEUE,
        "add_bench_arguments",
        "run_bench",
        "time to apply a queue round to N tasks of a real LS",
    ),
    "settings-table": (
        _SERVICE,
        "add_table_arguments",
        "run_settings_table",
        "print the configuration table (Markdown)",
    ),
    "prelabel": (
        "ml_backend.tools.prelabel_command",
        "add_arguments",
        "run",
        "pre-label a whole project in chunks (a resumable job)",
    ),
    "bench-prelabel": (
        "ml_backend.tools.bench_prelabel",
        "add_arguments",
        "run",
        "bulk pre-label tasks/s: 1 and 2 workers vs the model",
    ),
    "first-hour": (
        "ml_backend.tools.first_hour",
        "add_arguments",
        "run",
        "walk a new project's first hour against a real Label Studio and measure it",
    ),
    "bench-memory": (
        "ml_backend.tools.bench_memory",
        "add_arguments",
        "run",
        "worker RSS for /predict of big images vs pixel budget",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m ml_backend", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, add, run, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text)
        getattr(module, add)(command_parser)
        command_parser.set_defaults(_run=getattr(module, run))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
