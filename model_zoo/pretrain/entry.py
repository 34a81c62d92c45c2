"""The zoo entry a pretraining run makes: its name, its files, and what it records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from model_zoo.pretrain.configs import vit_config_from_mae, vit_processor
from model_zoo.pretrain.errors import PretrainError
from model_zoo.registry import ZOO
from model_zoo.storage.atomic import write_dir_atomic

ENTRY_FILE = "zoo_entry.json"
DEFAULT_ENTRY = "fm-concrete-small"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_out_name(name: str, allow_zoo: bool = False) -> str:
    if not _NAME.match(name or ""):
        raise PretrainError(
            f"--out {name!r} must be a plain name (letters, digits, '.', '_', '-'): it becomes "
            "the zoo entry MODEL_DIR/zoo/<name>/"
        )
    if name in ZOO and not allow_zoo:
        raise PretrainError(f"--out {name!r} is a built-in zoo name; choose another name")
    return name


def export_entry(model, entry_dir: Path, info: dict[str, Any]) -> Path:
    """Write the zoo entry (see ``model_zoo.pretrain.mae``) atomically: a temporary folder,
    then a rename."""
    from transformers import ViTModel

    def write(tmp: Path) -> None:
        encoder = ViTModel(vit_config_from_mae(model.config), add_pooling_layer=False)
        encoder.load_state_dict(model.vit.state_dict(), strict=True)
        encoder.save_pretrained(tmp, safe_serialization=True)
        processor = vit_processor(int(model.config.image_size))
        processor.save_pretrained(tmp)
        model.save_pretrained(tmp / "mae", safe_serialization=True)
        processor.save_pretrained(tmp / "mae")
        (tmp / ENTRY_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    return write_dir_atomic(entry_dir, write)
