"""Control-tag handlers, by tag name.

``CONTROL_HANDLERS`` maps a lower-case tag name to the handler classes that may serve it, in
order; the first whose ``matches(control)`` is true serves the control (e.g. a ``<BrushLabels>``
of defect classes and one of Foreground/Background need different models). Adding a handler:
one module plus one entry here.
"""

from ml_backend.controls.base import ControlHandler, Region
from ml_backend.controls.brush_cam import CamBrushHandler
from ml_backend.controls.brush_foreground import ForegroundBrushHandler
from ml_backend.controls.choices import ChoicesHandler

CONTROL_HANDLERS: dict[str, list[type[ControlHandler]]] = {
    "choices": [ChoicesHandler],
    "brushlabels": [ForegroundBrushHandler, CamBrushHandler],  # first: Foreground/Background
}


def handler_class(control) -> type[ControlHandler] | None:
    """The handler class serving ``control``, or None."""
    for candidate in CONTROL_HANDLERS.get(control.tag.lower(), []):
        if candidate.matches(control):
            return candidate
    return None


__all__ = ["CONTROL_HANDLERS", "ControlHandler", "Region", "handler_class"]
