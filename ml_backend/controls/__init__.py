"""Control-tag handlers, by tag name. Adding a tag: one module plus one entry here."""

from ml_backend.controls.base import ControlHandler, Region
from ml_backend.controls.choices import ChoicesHandler

CONTROL_HANDLERS: dict[str, type[ControlHandler]] = {
    "choices": ChoicesHandler,
}

__all__ = ["CONTROL_HANDLERS", "ControlHandler", "Region"]
