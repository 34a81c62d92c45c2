"""`make bench` runs commands that exist (each answers --help)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def benches() -> list[tuple[str, str]]:
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    names = re.search(r"^BENCHES := (.*)$", text, flags=re.M).group(1).split()
    return [tuple(name.split(":")) for name in names]


def test_make_bench_lists_every_bench_command():
    listed = {command for _, command in benches()}
    modules = [p.stem for p in (REPO / "model_zoo" / "commands").glob("bench_*.py")]
    assert {m.replace("_", "-") for m in modules} <= listed
    assert {"bench", "bench-training"} <= listed


@pytest.mark.parametrize("package, command", benches())
def test_bench_command_exists(package, command):
    done = subprocess.run(
        [sys.executable, "-m", package, command, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
