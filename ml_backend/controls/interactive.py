"""Interactive requests: the smart ``KeyPointLabels`` / ``RectangleLabels`` regions Label Studio
sends in ``params.context.result``, turned into prompts, and the one ``brushlabels`` answer.

Context regions carry percentages of the image (0-100); clicks have ``is_positive``. The label of
the last region picks the answer's label (regions of other labels are left out); the answer goes
to the ``<BrushLabels>`` that labels the same image and has that label. Anything that cannot be
answered raises :class:`InteractiveError` with a message for the annotator.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ml_backend.controls.base import new_region_id
from ml_backend.controls.brush import brush_value
from model_zoo.interactive.prompts import Prompts

log = logging.getLogger(__name__)

SMART_TYPES = ("keypointlabels", "rectanglelabels")
RIDGE_WORDS = ("crack",)


class InteractiveError(ValueError):
    """The interactive request cannot be answered; the message says why."""


@dataclass
class InteractiveRequest:
    label: str
    to_name: str
    regions: list[dict]

    def prompts(self, width: int, height: int) -> Prompts:
        """The regions as prompts in pixels of a ``width`` x ``height`` image."""
        points, positive, boxes = [], [], []
        for region in self.regions:
            value = region["value"]
            if region["type"] == "keypointlabels":
                points.append(
                    (_number(value, "x") * width / 100, _number(value, "y") * height / 100)
                )
                positive.append(region.get("is_positive", True) is not False)
            else:
                boxes.append(_box(value, width, height))
        return Prompts(tuple(points), tuple(positive), tuple(boxes))


def _number(value: dict, key: str) -> float:
    raw = value.get(key)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise InteractiveError(f"a smart region has no numeric value.{key} (got {raw!r})")
    return float(raw)


def _box(value: dict, width: int, height: int) -> tuple[float, float, float, float]:
    """The axis-aligned pixel box around a (possibly rotated about its top-left) rectangle."""
    x, y = _number(value, "x") * width / 100, _number(value, "y") * height / 100
    w, h = _number(value, "width") * width / 100, _number(value, "height") * height / 100
    angle = math.radians(float(value.get("rotation") or 0))
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
    ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (w, 0), (0, h), (w, h))]
    return (min(xs), min(ys), max(xs), max(ys))


def _label(region: dict) -> str | None:
    value = region.get("value") or {}
    labels = value.get(region.get("type")) or value.get("labels") or []
    return str(labels[0]) if isinstance(labels, list) and labels else None


def parse_context(context) -> InteractiveRequest | None:
    """The request in ``params.context``, or None when it is not an interactive one."""
    if not isinstance(context, dict) or not context.get("result"):
        return None
    result = context["result"]
    if not isinstance(result, list):
        raise InteractiveError("context.result must be a list of regions")
    smart = [r for r in result if isinstance(r, dict) and r.get("type") in SMART_TYPES]
    if not smart:
        types = sorted({str(r.get("type")) for r in result if isinstance(r, dict)})
        raise InteractiveError(
            f"context.result has no keypointlabels or rectanglelabels region (types: {types}); "
            'mark a KeyPointLabels or RectangleLabels tag smart="true"'
        )
    for region in smart:
        if not isinstance(region.get("value"), dict):
            raise InteractiveError("a smart region has no 'value' object")
    label = _label(smart[-1])
    if label is None:
        raise InteractiveError("the smart region has no label: pick a label, then click or draw")
    same = [r for r in smart if _label(r) == label]
    if len(same) < len(smart):
        log.info(
            "interactive request: %d region(s) of other labels left out", len(smart) - len(same)
        )
    return InteractiveRequest(label, str(smart[-1].get("to_name") or ""), same)


def brush_control(interface, request: InteractiveRequest):
    """The ``<BrushLabels>`` with the request's label on the request's image."""
    brushes = [c for c in interface.controls if c.tag.lower() == "brushlabels"]
    if not brushes:
        raise InteractiveError(
            "the label config has no <BrushLabels> to answer with: add one sharing the labels "
            "of the smart KeyPointLabels/RectangleLabels (see label_config/interactive.xml)"
        )
    on_image = [c for c in brushes if not request.to_name or request.to_name in c.to_name]
    for control in on_image:
        if request.label in control.labels:
            return control
    known = sorted({label for c in on_image for label in c.labels})
    raise InteractiveError(
        f"label {request.label!r} is not a label of any <BrushLabels> on image "
        f"{request.to_name!r} (brush labels: {', '.join(known) or 'none'}); use the same label "
        "values in the smart tool and the BrushLabels"
    )


def shape_hint(control, label: str) -> str | None:
    """``model_shape`` of the ``<Label>`` (ridge or blob); crack labels default to ridge."""
    tag = control.labels_attrs.get(label) if getattr(control, "labels_attrs", None) else None
    raw = tag.attr.get("model_shape") if tag is not None else None
    if raw:
        if raw not in ("ridge", "blob"):
            raise InteractiveError(
                f'<Label value="{label}"> has model_shape="{raw}": use ridge or blob'
            )
        return str(raw)
    return "ridge" if any(word in label.lower() for word in RIDGE_WORDS) else None


def brush_answer(control, to_name: str, mask: np.ndarray, label: str, score: float) -> dict:
    """The ``brushlabels`` result item (original size) of the interactive answer."""
    height, width = mask.shape
    return {
        "id": new_region_id(),
        "from_name": control.name,
        "to_name": to_name,
        "type": "brushlabels",
        "value": brush_value(mask, label),
        "score": float(score),
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "readonly": False,
    }
