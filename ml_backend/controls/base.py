"""What every control-tag handler provides.

A handler serves one control tag of a label config (``<Choices>``, ``<BrushLabels>`` …) that
labels an ``<Image>``. The predictor builds one handler per served control, calls
:meth:`check` at ``/setup`` time and :meth:`predict` with a batch of images.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from PIL import Image

from ml_backend.serving.model_cache import ModelCache
from ml_backend.settings import Settings


@dataclass
class Region:
    """One result item plus the confidence it carries (also its ``score``)."""

    item: dict
    score: float


def new_region_id() -> str:
    return uuid.uuid4().hex[:10]


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

    def pass_request(self):
        """What the control needs from the request's shared classifier pass
        (:class:`ml_backend.serving.shared_pass.PassRequest`); None: it runs its own model."""
        return None

    def predict(self, images: list[Image.Image], shared=None) -> list[list[Region]]:
        """Regions for each image (one list per image, same order); ``shared``: the result of
        the shared classifier pass for this control's :meth:`pass_request`, if one ran."""
        raise NotImplementedError

    def region(self, value: dict, score: float, **extra) -> Region:
        item = {
            "id": new_region_id(),
            "from_name": self.control.name,
            "to_name": self.image_object.name,
            "type": self.result_type,
            "value": value,
            "score": float(score),
            **extra,
        }
        return Region(item=item, score=float(score))
