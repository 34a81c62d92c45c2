"""Timing and memory helpers shared by the bench commands (no command of its own)."""

from __future__ import annotations

import resource
import sys
import time


def peak_mb() -> float:
    """The process's peak resident memory so far (``ru_maxrss``; it only grows), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def best_seconds(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU seconds (all threads) of ``repeats`` calls; on a
    shared machine the CPU time is the steadier of the two."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(max(1, repeats)):
        tic, tic_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - tic)
        cpu.append(time.process_time() - tic_cpu)
    return min(wall), min(cpu)
