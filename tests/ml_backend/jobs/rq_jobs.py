"""Job functions the RQ tests enqueue (RQ imports jobs by dotted path)."""

from __future__ import annotations

import time


def swallowing_sleep(seconds: float) -> str:
    """What code that keeps one bad image from failing a batch does: catch ``Exception``."""
    try:
        time.sleep(seconds)
    except Exception as exc:  # noqa: BLE001 - the point of the test
        return f"swallowed {type(exc).__name__}"
    return "slept"
