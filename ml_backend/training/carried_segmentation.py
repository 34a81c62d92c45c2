"""The segmentation model a round keeps serving until it has one of its own.

A round makes its fast classifier version live within seconds, long before its segmentation
step ends (minutes: the weakly supervised or corrected training). The versions it stores carry
the previous live version's segmentation model (a copy of its folder and its record), so that
masks keep coming from it meanwhile, the segmentation step can continue it, and a step that
trains nothing (skipped, unusable pseudo-masks, a failure) does not drop it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_backend.training.segmentation_round import SEGMENTATION_FOLDER


@dataclass
class CarriedSegmentation:
    """The live version's segmentation folder (None: it has none) and its record."""

    folder: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_live(cls, store, scope: str) -> CarriedSegmentation:
        live = store.live_path(scope)
        folder = live / SEGMENTATION_FOLDER if live else None
        if folder is None or not (folder / "segmentation.json").is_file():
            return cls()
        record = dict(store.meta(live).get("segmentation") or {})
        return cls(folder, {**record, "carried_from": live.name})

    def copy_into(self, version_dir: Path) -> None:
        """Put the carried model into a version being written (nothing when there is none)."""
        if self.folder is not None:
            shutil.copytree(self.folder, version_dir / SEGMENTATION_FOLDER)

    def pending_record(self) -> dict[str, Any]:
        """The fast version's record while this round's segmentation step runs."""
        pending = "this round's segmentation step follows"
        if self.folder is None:
            return {"status": "pending", "reason": pending}
        return {**self.record, "this_round": {"status": "pending", "reason": pending}}

    def final_record(self, step: dict[str, Any]) -> dict[str, Any]:
        """The record of a version this round stores without a segmentation model of its own:
        the carried model's, and what this round's step did (``step``)."""
        if self.folder is None:
            return step
        return {**self.record, "this_round": step}
