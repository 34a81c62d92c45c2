"""``python -m model_zoo list``: the models of the zoo, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from model_zoo.registry import ZOO
from model_zoo.table import format_table


def describe() -> list[dict[str, Any]]:
    """One row per zoo entry: name, family, where the weights come from, input size, licence."""
    return [
        {
            "name": e.name,
            "family": e.family,
            "source": e.hub_id
            or ("built on first use" if e.build_weights else "built in (random weights)"),
            "input_size": e.input_size,
            "licence": e.licence,
            "description": e.description,
        }
        for e in ZOO.values()
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(rows, ["name", "family", "input_size", "source", "licence"]))
    print("\nPlace downloaded weights under $MODEL_DIR/zoo/<name>/ to use an entry offline.")
    return 0
