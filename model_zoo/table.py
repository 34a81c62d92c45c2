"""Plain-text tables for command output: the one table printer of every command and bench."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any


def cell(value: Any, digits: int = 3) -> str:
    """How a value shows in a table: floats with ``digits`` decimals, None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, Real) and not isinstance(value, Integral | bool):
        return f"{float(value):.{digits}f}"
    return str(value)


def format_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    digits: int | Mapping[str, int] = 3,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Columns separated by two spaces, a header line first; text left-aligned, numbers right.

    ``digits``: decimals of float cells (one number, or per column); ``headers``: a column's
    title when it is not the key.
    """
    if not rows:
        return ""
    columns = list(columns or rows[0])
    titles = {c: (headers or {}).get(c, c) for c in columns}
    places = {c: digits if isinstance(digits, int) else digits.get(c, 3) for c in columns}
    cells = [{c: cell(r.get(c), places[c]) for c in columns} for r in rows]
    numeric = {c: all(isinstance(r.get(c), Real | None) for r in rows) for c in columns}
    widths = {c: max(len(titles[c]), *(len(row[c]) for row in cells)) for c in columns}

    def line(values: Mapping[str, str]) -> str:
        return "  ".join(
            values[c].rjust(widths[c]) if numeric[c] else values[c].ljust(widths[c])
            for c in columns
        ).rstrip()

    return "\n".join([line(titles), *(line(row) for row in cells)])
