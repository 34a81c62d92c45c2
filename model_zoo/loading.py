"""One way to load any model of the zoo: random weights, a local directory or the hub.

Every model kind (classifier, CLIPSeg, MAE backbones …) goes through these steps:

1. :func:`resolve_source` turns a name into a :class:`~model_zoo.registry.ModelSource`
   (zoo entry, local ``save_pretrained`` directory or hub id) and builds entries that are made
   on first use (``build_weights``);
2. random entries are built by :func:`build_random` with a fixed seed, so every process
   builds the same weights;
3. local and hub sources are read with :func:`pretrained_location` and, when that fails,
   :func:`load_error` raises the :class:`ModelLoadError` that says how to provide the weights;
4. :func:`source_version` names what was loaded (the ``model_version`` Label Studio shows).

The registry stays data only: its builders are ``"module:function"`` references that
:func:`entry_builder` imports here, on use.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from model_zoo.registry import ZOO, ModelSource, ZooEntry, resolve


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names the model, what was tried and what to do."""


def entry_builder(reference: str) -> Callable[..., Any]:
    """The function a registry reference ``"package.module:function"`` names."""
    module_name, _, function = reference.partition(":")
    if not module_name or not function:
        raise ValueError(f"builder reference {reference!r} is not 'package.module:function'")
    return getattr(importlib.import_module(module_name), function)


def build_config(entry: ZooEntry) -> tuple[Any, Any]:
    """``(model_config, image_processor)`` of a random-weight zoo entry."""
    if entry.build_config is None:
        raise ValueError(f"zoo entry {entry.name!r} has no random-weight builder")
    return entry_builder(entry.build_config)()


def resolve_source(name_or_path: str, model_dir: str | os.PathLike | None = None) -> ModelSource:
    """:func:`~model_zoo.registry.resolve`, with entries made on first use built (minutes) into
    ``MODEL_DIR/zoo/<name>/`` and then read from there like any local directory."""
    source = resolve(name_or_path, model_dir)
    if source.kind == "build":
        entry_builder(source.entry.build_weights)(source.path)
        source = resolve(name_or_path, source.path.parent.parent)
    return source


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Deterministic weight initialisation without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_random(source: ModelSource, seed: int, make: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``(model, processor)`` of a random entry: ``make(config)`` builds the model, seeded."""
    config, processor = build_config(source.entry)
    with seeded(seed):
        model = make(config)
    return model, processor


def pretrained_location(source: ModelSource) -> tuple[str, dict[str, Any]]:
    """What ``from_pretrained`` takes for a local or hub source: location and keyword args."""
    if source.kind == "local":
        return str(source.path), {}
    extra = {"revision": source.revision} if source.revision else {}
    return str(source.hub_id), extra


def local_version(path: Path) -> str:
    """A version name for a local directory that changes when its weights change."""
    digest = hashlib.sha256()
    digest.update((path / "config.json").read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return f"{path.name}-{digest.hexdigest()[:8]}"


def source_version(source: ModelSource, *, seed: int = 0) -> str:
    """``tiny-vit-random-seed0``, ``<dir>-<hash>`` or ``org/name[@revision]``."""
    if source.kind == "random":
        return f"{source.name}-random-seed{seed}"
    if source.kind == "local":
        return local_version(source.path)
    return str(source.hub_id) + (f"@{source.revision}" if source.revision else "")


def how_to_provide(
    source: ModelSource, model_dir: str | os.PathLike | None, *, setting: str, offline: str
) -> str:
    """What a user without network does to make ``source`` loadable."""
    target = f"{model_dir}/zoo/{source.name}" if model_dir else "/path/to/dir"
    hub = source.hub_id or source.name
    revision = f" --revision {source.revision}" if source.revision else ""
    return (
        f"This machine cannot download it. On a machine with network access run "
        f"`hf download {hub}{revision} --local-dir {source.name}` (or save_pretrained), copy the "
        f"folder to {target} and restart, or set {setting} to that folder. For offline tests "
        f"use the built-in random model {offline!r}."
    )


def load_error(
    source: ModelSource,
    exc: BaseException,
    model_dir: str | os.PathLike | None,
    *,
    what: str = "model",
    setting: str,
    offline: str,
) -> ModelLoadError:
    """The error for a source that did not load: what was tried, why, and how to fix it."""
    tried = list(source.tried) + [x for x in [source.hub_id] if x]
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelLoadError(
        f"cannot load {what} {source.name!r} (tried: {', '.join(tried) or source.name}): "
        f"{first}. " + how_to_provide(source, model_dir, setting=setting, offline=offline)
    )


def check_family(source: ModelSource, family: str, what: str) -> None:
    """Refuse a zoo entry of another family (a classifier name given where CLIPSeg is wanted)."""
    if source.entry is not None and source.entry.family != family:
        names = ", ".join(name for name, entry in ZOO.items() if entry.family == family)
        raise ModelLoadError(
            f"{source.name!r} is a {source.entry.family} model, not {what}. "
            f"{what} zoo entries: {names}."
        )
