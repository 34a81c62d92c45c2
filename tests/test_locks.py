"""The lock files: complete, hashed, current, and the only source of every install."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCKS_SCRIPT = REPO / ".ci" / "locks.py"
LOCK_INPUTS = {
    "requirements.txt": "requirements.in",
    "requirements-dev.txt": "requirements-dev.in",
    "requirements-label-studio.txt": "requirements-label-studio.in",
}
ENTRY = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def locked(lock: str) -> dict[str, list[str]]:
    """Package (canonical name) -> the versions its lock pins (one per environment marker)."""
    pins: dict[str, list[str]] = {}
    for line in (REPO / lock).read_text().splitlines():
        match = ENTRY.match(line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), []).append(match.group(2))
    return pins


def direct_requirements(source: str) -> list[Requirement]:
    out = []
    for raw in (REPO / source).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out += direct_requirements(line.split()[1])
        else:
            out.append(Requirement(line))
    return out


def run_check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(root / ".ci" / "locks.py"), "check"],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("lock", sorted(LOCK_INPUTS))
def test_every_locked_entry_is_pinned_with_hashes(lock):
    text = (REPO / lock).read_text()
    entries = [line for line in text.splitlines() if line and not line[0].isspace()]
    entries = [line for line in entries if not line.startswith("#")]
    assert len(entries) > 10
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[3])
    for block in blocks:
        first = block.splitlines()[0]
        assert ENTRY.match(first), f"{lock}: {first!r} is not a pin"
        assert "--hash=sha256:" in block, f"{lock}: {first!r} has no hash"


@pytest.mark.parametrize("lock", sorted(LOCK_INPUTS))
def test_every_direct_requirement_is_satisfied_by_its_lock(lock):
    pins = locked(lock)
    for requirement in direct_requirements(LOCK_INPUTS[lock]):
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is in {LOCK_INPUTS[lock]} but not in {lock}"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {requirement.name}=={version}, outside {requirement}"
            )


def test_shared_packages_have_one_version_in_the_runtime_and_dev_locks():
    runtime, dev = locked("requirements.txt"), locked("requirements-dev.txt")
    for name, versions in runtime.items():
        assert dev.get(name) == versions, f"{name}: {versions} vs {dev.get(name)}"


def test_label_studio_lock_keeps_the_sentry_sdk_it_starts_with():
    # sentry-sdk 3.0.0 makes Label Studio 1.23.2 exit at start-up ("send_default_pii")
    (version,) = locked("requirements-label-studio.txt")["sentry-sdk"]
    assert int(version.split(".")[0]) < 3


def test_the_locks_are_current():
    result = run_check(REPO)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def repo_copy(tmp_path):
    (tmp_path / ".ci").mkdir()
    shutil.copy(LOCKS_SCRIPT, tmp_path / ".ci" / "locks.py")
    for lock, source in LOCK_INPUTS.items():
        shutil.copy(REPO / lock, tmp_path / lock)
        shutil.copy(REPO / source, tmp_path / source)
    return tmp_path


def test_a_changed_input_makes_its_lock_and_its_dependants_stale(repo_copy):
    with (repo_copy / "requirements.in").open("a") as handle:
        handle.write("rich==15.0.0\n")
    result = run_check(repo_copy)
    assert result.returncode == 1
    assert "requirements.txt is stale against requirements.in: run `make lock`" in result.stderr
    # the dev lock includes the runtime input (-r) and is constrained by its lock
    assert "requirements-dev.txt is stale" in result.stderr
    assert "requirements-label-studio.txt" not in result.stderr


def test_a_comment_or_spacing_does_not_make_a_lock_stale(repo_copy):
    source = repo_copy / "requirements-label-studio.in"
    source.write_text("# a note\n\n" + source.read_text().replace("==", "==", 1) + "   \n")
    assert run_check(repo_copy).returncode == 0


def test_a_missing_lock_says_what_to_run(repo_copy):
    (repo_copy / "requirements-label-studio.txt").unlink()
    result = run_check(repo_copy)
    assert result.returncode == 1
    assert "requirements-label-studio.txt is missing: run `make lock`" in result.stderr


def test_pin_prints_the_locked_installer_with_its_hashes():
    result = subprocess.run(
        [sys.executable, str(LOCKS_SCRIPT), "pin", "uv"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    (version,) = locked("requirements-dev.txt")["uv"]
    assert line.startswith(f"uv=={version} --hash=sha256:")
    assert "\n" not in line


def test_make_installs_only_from_the_locks():
    makefile = (REPO / "Makefile").read_text()
    assert not re.search(r"pip install[^\n]*requirements[\w-]*\.in", makefile)
    assert "requirements-dev.txt" in makefile and "requirements-label-studio.txt" in makefile
    assert "--require-hashes" in makefile
    recipe = makefile.split("\ntest:", 1)[1].splitlines()[0]
    assert recipe.split()[0] == "check-locks", "make test must check the locks first"
