"""A domain foundation model from your unlabeled images (MAE); ``python -m model_zoo pretrain``.

Masked-autoencoder pretraining (He et al. 2022, transformers' ``ViTMAEForPreTraining``) on any
folder of images, as in the paper's first workflow: start from scratch (a ``--preset``
architecture) or continue from a checkpoint (``--from NAME``: a zoo name, a directory or a hub
id; "hierarchical" pretraining), mask ``--mask-ratio`` of the patches and learn to reconstruct
their pixels. The result is a new zoo entry under ``MODEL_DIR/zoo/<out>/`` that the classifier,
CAMs and fine-tuning use by name::

    MODEL_DIR/zoo/<out>/config.json, model.safetensors   the encoder as a plain ViT (no masking)
    MODEL_DIR/zoo/<out>/preprocessor_config.json         its image processor
    MODEL_DIR/zoo/<out>/zoo_entry.json                   what it was trained on, and how
    MODEL_DIR/zoo/<out>/reconstruction.png               original | masked | reconstruction
    MODEL_DIR/zoo/<out>/mae/                             the whole MAE (decoder too), to continue

While it runs, ``MODEL_DIR/pretrain/<out>/`` holds the checkpoint (written atomically every
``--checkpoint-every`` steps and at each epoch's end) and a reconstruction preview per epoch.
Running the same command again after a kill resumes from the last checkpoint.

``python -m model_zoo pretrain --default`` builds the embedded default ``fm-concrete-small``
(also built on first use by ``load_classifier``): MAE on synthetic concrete images, a few
minutes on two CPU cores.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from model_zoo.pretrain.checkpoint import CHECKPOINT
from model_zoo.pretrain.configs import PRESETS, encoder_config, vit_config_from_mae
from model_zoo.pretrain.entry import DEFAULT_ENTRY, ENTRY_FILE, check_out_name, export_entry
from model_zoo.pretrain.errors import PretrainError
from model_zoo.pretrain.images import load_images, scan_images
from model_zoo.pretrain.model import build_mae
from model_zoo.pretrain.train import PretrainConfig, PretrainResult, pretrain

# The embedded default: synthetic images -> MAE "small". Sized to build in a few minutes on
# two CPU cores (480 steps of 64 images).
DEFAULT_BUILD: dict[str, Any] = dict(
    n_images=1000, synth_size=128, synth_seed=1000, epochs=30, batch_size=64, mask_ratio=0.75
)


def build_default(
    entry_dir: Path, build: dict[str, Any] | None = None, progress: bool = True
) -> Path:
    """Build the embedded default entry into ``entry_dir`` (= MODEL_DIR/zoo/<name>/): synthetic
    concrete images, then MAE from scratch ("small"). Resumable like any pretraining run."""
    from model_zoo.data.synth import generate_dataset

    spec = {**DEFAULT_BUILD, **(build or {})}
    entry_dir = Path(entry_dir)
    name = entry_dir.name
    model_dir = entry_dir.parent.parent
    images = model_dir / "pretrain" / name / "synth"
    print(
        f"building zoo entry {name!r} (first use): MAE-pretraining a small ViT on "
        f"{spec['n_images']} synthetic concrete images, a few minutes on a CPU; cached in "
        f"{entry_dir}",
        file=sys.stderr,
    )
    manifest = images / "manifest.json"
    complete = manifest.is_file() and json.loads(manifest.read_text()).get("complete")
    if not complete or json.loads(manifest.read_text()).get("n") != spec["n_images"]:
        generate_dataset(
            images,
            n=spec["n_images"],
            size=spec["synth_size"],
            seed=spec["synth_seed"],
            progress=progress,
        )
    pretrain(
        images / "images",
        PretrainConfig(
            out=name,
            base="scratch",
            preset=spec.get("preset", "small"),
            epochs=spec["epochs"],
            batch_size=spec["batch_size"],
            mask_ratio=spec["mask_ratio"],
            progress=progress,
        ),
        model_dir=model_dir,
    )
    info_path = entry_dir / ENTRY_FILE
    info = json.loads(info_path.read_text())
    info["images_dir"] = (
        f"synthetic: model_zoo.data.synth generate_dataset(n={spec['n_images']}, "
        f"size={spec['synth_size']}, seed={spec['synth_seed']}), deleted after the build"
    )
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(model_dir / "pretrain" / name, ignore_errors=True)
    return entry_dir


__all__ = [
    "CHECKPOINT",
    "DEFAULT_BUILD",
    "DEFAULT_ENTRY",
    "ENTRY_FILE",
    "PRESETS",
    "PretrainConfig",
    "PretrainError",
    "PretrainResult",
    "build_default",
    "build_mae",
    "check_out_name",
    "encoder_config",
    "export_entry",
    "load_images",
    "pretrain",
    "scan_images",
    "vit_config_from_mae",
]
