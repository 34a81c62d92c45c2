"""What every control-tag handler provides.

A handler serves one control tag of a label config (``<Choices>``, ``<BrushLabels>`` …) that
labels an ``<Image>``. The predictor builds one handler per served control, calls
:meth:`check` at ``/setup`` time and :meth:`predict` with a batch of images.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PIL import Image

from ml_backend.controls.label_config import label_option, tag_choice, tag_float, tag_option
from ml_backend.serving.model_cache import ModelCache
from ml_backend.settings import Settings


@dataclass
class Region:
    """One result item plus the confidence it carries (also its ``score``)."""

    item: dict
    score: float


def new_region_id() -> str:
    return uuid.uuid4().hex[:10]


def result_item(from_name: str, to_name: str, result_type: str, value: dict, **extra) -> dict:
    """One item of a Label Studio ``result`` list (prediction or annotation)."""
    return {
        "from_name": from_name,
        "to_name": to_name,
        "type": result_type,
        "value": value,
        **extra,
    }


class ControlHandler:
    """Base class: ``matches`` decides whether a control is ours; ``predict`` does the work."""

    #: the Label Studio result ``type`` (lower-case tag name)
    result_type: str = ""
    #: the Label Studio project id the request is for (None when unknown); set by the predictor
    project: str | None = None

    def __init__(self, control, image_object, settings: Settings, models: ModelCache):
        self.control = control
        self.image_object = image_object
        self.settings = settings
        self.models = models

    @classmethod
    def matches(cls, control) -> bool:
        """Whether this handler serves ``control`` (its tag name already matched)."""
        return True

    @property
    def image_key(self) -> str:
        """The task data key holding the image URL (``$image`` → ``image``)."""
        return self.image_object.value.lstrip("$")

    def check(self) -> None:
        """Raise ``LabelConfigError`` if the control cannot be served (called at /setup)."""

    @property
    def model_version(self) -> str:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the control has a model worth serving (a classifier control before its
        project's first trained version has not)."""
        return True

    def pass_request(self):
        """What the control needs from the request's shared classifier pass
        (:class:`ml_backend.serving.shared_pass.PassRequest`); None: it runs its own model."""
        return None

    def predict(self, images: list[Image.Image], shared=None) -> list[list[Region]]:
        """Regions for each image (one list per image, same order); ``shared``: the result of
        the shared classifier pass for this control's :meth:`pass_request`, if one ran."""
        raise NotImplementedError

    # -- tag options: the control's XML attribute, else the setting (environment) named
    def option(self, attribute: str, setting: str | None = None, default: str | None = None):
        """Attribute ``attribute`` of the tag, else ``Settings.<setting>``, else ``default``."""
        fallback = getattr(self.settings, setting) if setting else default
        return tag_option(self.control, attribute, None if fallback is None else str(fallback))

    def float_option(
        self, attribute: str, setting: str | None = None, default: float = 0.0
    ) -> float:
        """A number in [0, 1] from the tag, else ``Settings.<setting>``, else ``default``."""
        fallback = float(getattr(self.settings, setting)) if setting else default
        return tag_float(self.control, attribute, fallback)

    def choice_option(self, attribute: str, allowed: tuple[str, ...]) -> str:
        return tag_choice(self.control, attribute, allowed)

    def label_option(self, label: str, attribute: str) -> str | None:
        return label_option(self.control, label, attribute)

    def region(self, value: dict, score: float, **extra) -> Region:
        item = result_item(
            self.control.name,
            self.image_object.name,
            self.result_type,
            value,
            id=new_region_id(),
            score=float(score),
            **extra,
        )
        return Region(item=item, score=float(score))
