"""Writing generated pairs in the dataset layout, with a manifest marking every file synthetic.

::

    OUT/images/<class>/synth-00000-s<seed>.png    the defect image
    OUT/masks/<class>/synth-00000-s<seed>.png     its candidate mask (0/255)
    OUT/images/<twin>/synth-00000-s<seed>.png     the defect-free twin (default no_defect)
    OUT/manifest.json                             one entry per image file (see MANIFEST_FORMAT)

The manifest is rewritten atomically after every pair, so an interrupted run leaves a folder
that ``--append`` continues. ``load_dataset`` reads OUT like any dataset; training code tells
synthetic files apart through the manifest (``model_zoo.data.synthetic_mix``).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model_zoo.diffusion.paired import PairedSample
from model_zoo.diffusion.pipeline import DiffusionError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
_CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_class_name(name: str, what: str = "--class") -> str:
    if not _CLASS_NAME.match(name or ""):
        raise DiffusionError(
            f"{what} {name!r} must be a folder name (letters, digits, '_', '.', '-')"
        )
    return name


def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DiffusionError(f"{path} is not a readable generation manifest ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DiffusionError(f"{path} is not a generation manifest (no 'files' list)")
    return manifest


class PairWriter:
    """Writes pairs into ``out``; refuses a non-empty folder unless ``append``."""

    def __init__(self, out: str | Path, class_name: str, twin_class: str, append: bool = False):
        self.out = Path(out).expanduser()
        self.class_name = check_class_name(class_name)
        self.twin_class = check_class_name(twin_class, "--twin-class")
        if self.class_name == self.twin_class:
            raise DiffusionError(f"--class and --twin-class are both {class_name!r}")
        if self.out.exists() and not self.out.is_dir():
            raise DiffusionError(f"--out {self.out} is a file, not a directory")
        non_empty = self.out.is_dir() and any(self.out.iterdir())
        if non_empty and not append:
            raise DiffusionError(
                f"--out {self.out} is not empty; pass --append to add to a generated folder, "
                "or choose an empty directory"
            )
        if non_empty:
            self.manifest = read_manifest(self.out)
        else:
            self.manifest = {"format": MANIFEST_FORMAT, "synthetic": True, "files": []}
        self.pairs = sum(1 for f in self.manifest["files"] if f.get("role") == "defect")

    def _save_png(self, array_or_image, rel: str) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        image = array_or_image
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image.astype(np.uint8) * 255, mode="L")
        image.save(path)

    def write(self, sample: PairedSample, mask: np.ndarray, info: dict[str, Any]) -> dict:
        """Save one pair and its mask; ``info`` needs prompt, paired_prompt, model (+ extras)."""
        name = f"synth-{self.pairs:05d}-s{sample.seed}.png"
        defect = f"images/{self.class_name}/{name}"
        mask_rel = f"masks/{self.class_name}/{name}"
        twin = f"images/{self.twin_class}/{name}"
        self._save_png(sample.defect, defect)
        self._save_png(mask, mask_rel)
        self._save_png(sample.twin, twin)
        common = {
            "synthetic": True,
            "seed": sample.seed,
            "model": info["model"],
            "lora": info.get("lora"),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **info.get("extra", {}),
        }
        entry = {
            "path": defect,
            "class": self.class_name,
            "role": "defect",
            "prompt": info["prompt"],
            "mask": mask_rel,
            "mask_pixels": int(np.count_nonzero(mask)),
            "twin": twin,
            **common,
        }
        twin_entry = {
            "path": twin,
            "class": self.twin_class,
            "role": "twin",
            "prompt": info["paired_prompt"],
            "twin_of": defect,
            **common,
        }
        self.manifest["files"].extend([entry, twin_entry])
        self.pairs += 1
        self._save_manifest()
        return entry

    def _save_manifest(self) -> None:
        path = self.out / MANIFEST
        tmp = path.with_name(f".{MANIFEST}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.manifest, indent=1) + "\n")
        os.replace(tmp, path)
