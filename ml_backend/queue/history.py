"""What one queue round hands on to the next: the acquisition strategy's report.

A strategy that adapts from round to round (``minority-split``: how many of its minority picks
really were minority) reports, while scoring, its state and which pool rows it picked for what
(``AcquisitionContext.report``). The round stores that with task ids in
``$MODEL_DIR/queue/project-<id>.json`` once its order is in force; the next round reads it back
and gives the strategy the labels those tasks received since (``AcquisitionContext.history``).
A missing or unreadable file is an empty history: the strategy starts afresh.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from model_zoo.storage.atomic import write_text_atomic

log = logging.getLogger(__name__)


def history_path(model_dir: Path, project: str) -> Path:
    return Path(model_dir) / "queue" / f"project-{project}.json"


def load_history(model_dir: Path, project: str) -> dict:
    """The stored report of the project's last round (``{}`` when there is none)."""
    path = history_path(model_dir, project)
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("queue history %s unreadable (%s); starting afresh", path, exc)
        return {}
    return saved if isinstance(saved, dict) else {}


def save_history(model_dir: Path, project: str, saved: dict) -> None:
    """Store what the round in force hands on (``{}`` too: an older round's report is stale)."""
    write_text_atomic(history_path(model_dir, project), json.dumps(saved, indent=1) + "\n")


def stored_report(report: dict, pool_ids: list[int]) -> dict:
    """A strategy's report with pool rows turned into task ids (what is stored)."""
    out = {k: v for k, v in report.items() if k != "minority_picks"}
    if "minority_picks" in report:
        out["picked_ids"] = [int(pool_ids[i]) for i in report["minority_picks"]]
    return out


def context_history(saved: dict, labeled: dict[int, str]) -> dict:
    """The stored report as the strategy reads it: the labels its picked tasks got since
    (``labeled``: task id -> label), picks not labeled yet left out."""
    out = {k: v for k, v in saved.items() if k != "picked_ids"}
    if "picked_ids" in saved:
        out["picked_labels"] = [labeled[i] for i in saved["picked_ids"] if i in labeled]
    return out
