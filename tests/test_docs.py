"""The README and the pages under docs/ name only files, modules and commands that exist.

`mkdocs build --strict` (`make docs-check`) checks the links between pages, their anchors and
pictures; these tests check what it cannot: the README (outside the site), repository paths and
dotted module names, and the `python -m ...` commands the pages tell you to run.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PACKAGES = ("ml_backend", "model_zoo")
# a repository path (`model_zoo/cam.py`, `label_config/`) or dotted module (`ml_backend.wsgi:app`)
# anywhere in the text, code blocks included; `MODEL_DIR/zoo/...` and URLs do not match
PATH = re.compile(r"(?<![\w/.-])((?:ml_backend|model_zoo|label_config|docs|tests)/[\w./-]*)")
MODULE = re.compile(r"(?<![\w/.-])((?:ml_backend|model_zoo)(?:\.[a-z_]\w*)+)")
COMMAND = re.compile(r"python -m (ml_backend|model_zoo) ([a-z][a-z-]*)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _module_exists(dotted: str) -> bool:
    """True if some prefix of ``a.b.c.attr`` (at least ``a.b``) is a module file or package."""
    parts = dotted.split(".")
    for end in range(len(parts), 1, -1):
        base = REPO.joinpath(*parts[:end])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_repository_paths_in_the_docs_exist(page):
    missing = [p for p in PATH.findall(_text(page)) if not (REPO / p).exists()]
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_modules_in_the_docs_exist(page):
    missing = [m for m in MODULE.findall(_text(page)) if not _module_exists(m)]
    assert not missing, f"{page.name} names modules that do not exist: {missing}"


def test_readme_links_resolve():
    """The README is read on the repository host, outside the MkDocs build: check its links."""
    targets = [t for t in MARKDOWN_LINK.findall(_text(REPO / "README.md")) if "://" not in t]
    assert targets, "the README links to no documentation page"
    missing = [t for t in targets if not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _command_help(package: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", package, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        # the CLI imports every command's module (torch, timm: ~17 s of CPU); on a shared CPU
        # under load it took over 120 s of wall time
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_commands_in_the_docs_exist():
    named = {(pkg, cmd) for page in PAGES for pkg, cmd in COMMAND.findall(_text(page))}
    assert named, "the docs name no commands"
    helps = {package: _command_help(package) for package in PACKAGES}
    missing = sorted(
        f"python -m {pkg} {cmd}"
        for pkg, cmd in named
        if not re.search(rf"(?:^\s+|[{{,]){re.escape(cmd)}(?:\s|[,}}])", helps[pkg], flags=re.M)
    )
    assert not missing, f"the docs name commands that do not exist: {missing}"
