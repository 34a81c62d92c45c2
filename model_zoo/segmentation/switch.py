"""Which mask source serves: the segmentation model once it beats the CAM proposals.

Both are scored on the same hold-out masks (mean IoU over the labels). ``choose_mask_source``
returns the source and a sentence saying why, for logs, ``/health`` and ``/versions``. A
weakly supervised model trained before any corrected mask has nothing to be scored on: it
serves ``by_default`` (the reason given, e.g. what it measured on real photos) unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass

MASK_SOURCES = ("auto", "cam", "segmentation")


@dataclass(frozen=True)
class MaskSourceChoice:
    source: str  # "cam" or "segmentation"
    reason: str

    def as_dict(self) -> dict:
        return {"source": self.source, "reason": self.reason}


def check_mask_source(value: str) -> str:
    text = str(value or "auto").strip().lower()
    if text not in MASK_SOURCES:
        raise ValueError(f"mask source must be one of {', '.join(MASK_SOURCES)}, not {value!r}")
    return text


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def choose_mask_source(
    segmentation_iou: float | None,
    cam_iou: float | None,
    forced: str = "auto",
    available: bool = True,
    by_default: str | None = None,
) -> MaskSourceChoice:
    """``segmentation_iou``/``cam_iou``: hold-out mean IoU of each (None: not measured);
    ``available``: whether a segmentation model exists; ``forced``: auto, cam or segmentation;
    ``by_default``: why an unscored segmentation model serves anyway (None: it does not)."""
    forced = check_mask_source(forced)
    scores = f"hold-out IoU segmentation {_fmt(segmentation_iou)} vs CAM {_fmt(cam_iou)}"
    if forced == "cam":
        return MaskSourceChoice("cam", f"forced by the label config ({scores})")
    if not available:
        why = "no segmentation model in the live version"
        if forced == "segmentation":
            why += " (segmentation is forced, but there is none yet: CAM serves meanwhile)"
        return MaskSourceChoice("cam", why)
    if forced == "segmentation":
        return MaskSourceChoice("segmentation", f"forced by the label config ({scores})")
    if segmentation_iou is None and by_default:
        return MaskSourceChoice("segmentation", by_default)
    if segmentation_iou is None:
        return MaskSourceChoice("cam", f"the segmentation model has no hold-out score ({scores})")
    if cam_iou is None or segmentation_iou > cam_iou:
        return MaskSourceChoice("segmentation", f"it beats CAM: {scores}")
    return MaskSourceChoice("cam", f"the segmentation model does not beat CAM yet: {scores}")
