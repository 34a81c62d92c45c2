"""Where the parts of a classifier are, whatever hosts the backbone.

transformers' own models keep their head in ``model.classifier`` and their blocks in a
``ModuleList``; timm models hosted by transformers' ``TimmWrapper`` keep everything inside
``model.timm_model`` (``get_classifier()``, ``blocks`` as a ``Sequential`` of stages, then
``conv_head``/``bn2`` for EfficientNets, ``norm_pre``/``head.norm`` for ConvNeXts). Fine-tuning,
embeddings, the acquisition head, CAM target layers, the input size and the processor's
normalisation read them from here.
"""

from __future__ import annotations

from torch import nn

_TIMM_AFTER_BLOCKS = ("conv_head", "bn2", "norm_pre", "head_act")


def timm_model(model: nn.Module) -> nn.Module | None:
    """The timm model inside a ``TimmWrapper`` classifier, else None."""
    return getattr(model, "timm_model", None)


def head_module(model: nn.Module) -> nn.Module:
    """The classification layer: what maps pooled features to class logits."""
    head = getattr(model, "classifier", None)
    inner = timm_model(model)
    if head is None and inner is not None:
        head = inner.get_classifier()
    if not isinstance(head, nn.Module):
        raise ValueError(f"{type(model).__name__} has no classification head to fine-tune")
    return head


def blocks(model: nn.Module) -> list[nn.Module]:
    """The backbone's blocks, input side first (transformer layers or CNN stages)."""
    inner = timm_model(model)
    if inner is not None and isinstance(getattr(inner, "blocks", None), nn.Sequential):
        return list(inner.blocks)
    if inner is not None and isinstance(getattr(inner, "stages", None), nn.Sequential):
        return list(inner.stages)
    if inner is not None and getattr(inner, "feature_info", None):  # ResNet's layer1..layer4
        modules = dict(inner.named_modules())
        names = [f["module"] for f in inner.feature_info if f["module"] in modules]
        return [modules[name] for name in names if "." not in name and name.startswith("layer")]
    found = longest_block_list(model)
    return list(found[1]) if found is not None else []


def longest_block_list(model: nn.Module) -> tuple[str, nn.ModuleList] | None:
    """The longest ``ModuleList`` outside the head (transformer layers, CNN stages), named."""
    best = None
    for name, module in model.named_modules():
        is_blocks = isinstance(module, nn.ModuleList) and "classifier" not in name
        if is_blocks and (best is None or len(module) > len(best[1])):
            best = (name, module)
    return best


def after_blocks(model: nn.Module) -> list[nn.Module]:
    """What runs between the last block and the head (final convolution and norms): trained
    whenever the top blocks are."""
    inner = timm_model(model)
    if inner is not None:
        found = [getattr(inner, name, None) for name in _TIMM_AFTER_BLOCKS]
        head_norm = getattr(getattr(inner, "head", None), "norm", None)
        return [m for m in [*found, head_norm] if isinstance(m, nn.Module)]
    return [
        module
        for name, module in model.named_modules()
        if isinstance(module, nn.LayerNorm) and name.count(".") <= 1 and "classifier" not in name
    ]


def image_side(processor, default: int = 224) -> int:
    """The square side a processor resizes to (``size`` dict, ``crop_size`` or timm's config)."""
    for key in ("crop_size", "size"):
        size = getattr(processor, key, None)
        size = dict(size) if hasattr(size, "keys") else size
        if isinstance(size, dict):
            side = size.get("height") or size.get("shortest_edge")
            if side:
                return int(side)
        if isinstance(size, int):
            return size
    data_config = getattr(processor, "data_config", None) or {}
    if data_config.get("input_size"):
        return int(data_config["input_size"][-1])
    return default


def set_image_side(processor, side: int) -> None:
    """Make ``processor`` resize whole images to ``side`` x ``side`` (fine-tuning input size)."""
    if side < 32:
        raise ValueError(f"input size must be at least 32 pixels, not {side}")
    if getattr(processor, "size", None) is None:
        raise ValueError(f"{type(processor).__name__} has no size to set")
    processor.size = {"height": int(side), "width": int(side)}
    if getattr(processor, "do_center_crop", False):
        processor.crop_size = {"height": int(side), "width": int(side)}


_DEFAULT_MEAN = (0.485, 0.456, 0.406)
_DEFAULT_STD = (0.229, 0.224, 0.225)


def normalisation(processor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std of a transformers image processor (timm's keep them in ``data_config``)."""
    config = getattr(processor, "data_config", None) or {}
    mean = getattr(processor, "image_mean", None) or config.get("mean") or _DEFAULT_MEAN
    std = getattr(processor, "image_std", None) or config.get("std") or _DEFAULT_STD
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
