"""Reading a project's label config with the SDK's LabelInterface, and per-tag options.

Options follow Label Studio backend conventions: an attribute on the control tag
(``model_name``, ``model_score_threshold``, ``model_skip``; ``predicted_values`` on a
``<Choice>``/``<Label>``) wins over the environment default.
"""

from __future__ import annotations

import functools
import hashlib

from label_studio_sdk.label_interface import LabelInterface


class LabelConfigError(ValueError):
    """The label config cannot be served; the message says what is needed."""


@functools.lru_cache(maxsize=64)
def _parse(digest: str, xml: str) -> LabelInterface:
    return LabelInterface(xml)


def parse_label_config(xml: str | None) -> LabelInterface:
    """Parse (and cache) a label config; a broken one raises :class:`LabelConfigError`."""
    if not xml or not str(xml).strip():
        raise LabelConfigError("the request carries no label config (label_config/schema is empty)")
    try:
        return _parse(hashlib.sha256(xml.encode()).hexdigest(), xml)
    except Exception as exc:  # the SDK raises several exception types for bad XML
        raise LabelConfigError(
            f"the label config is not valid XML for Label Studio: {exc}"
        ) from exc


def tag_option(control, name: str, default: str | None = None) -> str | None:
    """A per-tag option: the control's XML attribute ``name`` or ``default``."""
    value = control.attr.get(name)
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip()


def tag_flag(control, name: str) -> bool:
    return str(tag_option(control, name, "false")).lower() in {"1", "true", "yes", "on"}


def tag_float(control, name: str, default: float, low: float = 0.0, high: float = 1.0) -> float:
    raw = tag_option(control, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LabelConfigError(
            f'<{control.tag} name="{control.name}"> has {name}="{raw}": it must be a number'
        ) from None
    if not low <= value <= high:
        raise LabelConfigError(
            f'<{control.tag} name="{control.name}"> has {name}="{raw}": it must be in [{low}, {high}]'
        )
    return value


def image_objects(control) -> list:
    """The ``<Image>`` tags a control labels."""
    return [obj for obj in control.objects if obj.tag.lower() == "image"]


def label_option(control, label: str, name: str) -> str | None:
    """A per-label option: attribute ``name`` of the ``<Label>``/``<Choice>`` of ``label``."""
    tag = control.labels_attrs.get(label) if getattr(control, "labels_attrs", None) else None
    value = tag.attr.get(name) if tag is not None else None
    return str(value).strip() if value is not None and str(value).strip() else None


def tag_choice(control, name: str, allowed: tuple[str, ...]) -> str:
    """A per-tag option that must be one of ``allowed`` (default: the first)."""
    value = str(tag_option(control, name, allowed[0])).lower()
    if value not in allowed:
        raise LabelConfigError(
            f'<{control.tag} name="{control.name}"> has {name}="{value}": use one of '
            f"{', '.join(allowed)}"
        )
    return value


def label_aliases(control, label: str) -> list[str]:
    """Names a label answers to: its ``predicted_values`` (comma-separated) or the label itself."""
    raw = label_option(control, label, "predicted_values")
    if raw:
        return [v.strip() for v in str(raw).split(",") if v.strip()]
    return [label]
