"""What the controls served by the defect classifier share (``<Choices>``, CAM ``<BrushLabels>``).

Which model: the project's live trained version if there is one, else the tag's ``model_name``,
else ``CLASSIFIER_MODEL``. How labels map to classifier classes: by name, ignoring case, spaces,
``-`` and ``_`` ("Net crack" = net_crack), or through ``predicted_values="a,b"`` on a label tag.
"""

from __future__ import annotations

import logging

from ml_backend.controls.base import ControlHandler
from ml_backend.controls.label_config import LabelConfigError, label_aliases
from model_zoo.classifier.model import canonical_class_name

log = logging.getLogger(__name__)


class ClassifierControl(ControlHandler):
    #: look for a live version trained for this very control (Choices) or for any (CAM masks)
    live_for_this_control: bool = True
    #: the label tag's name in messages ("Choice", "Label")
    label_tag: str = "Label"

    @property
    def labels(self) -> list[str]:
        return list(self.control.labels)

    @property
    def model_name(self) -> str:
        """The project's live trained version if there is one, else the configured model."""
        control = self.control.name if self.live_for_this_control else None
        live = self.models.live_model(self.project, control)
        return str(live) if live is not None else self.configured_model_name

    @property
    def configured_model_name(self) -> str:
        """The tag's ``model_name`` or ``CLASSIFIER_MODEL``: where training starts from; a name
        outside the allow-list is refused here, so training never loads it either."""
        return self.models.admit(self.option("model_name", "classifier_model"))

    def label_map(self, classes: list[str]) -> dict[str, list[int]]:
        """For each label, the indices of the classifier classes that count as it."""
        index: dict[str, list[int]] = {}
        for i, name in enumerate(classes):
            index.setdefault(canonical_class_name(name), []).append(i)
        mapping = {}
        for label in self.labels:
            hits = []
            for alias in label_aliases(self.control, label):
                hits.extend(index.get(canonical_class_name(alias), []))
            if hits:
                mapping[label] = sorted(set(hits))
        return mapping

    def check_label_mapping(self, classes: list[str]) -> None:
        """Refuse a tag none of whose labels matches a class; warn about the ones that don't."""
        tag = f'<{self.control.tag} name="{self.control.name}">'
        if not self.labels:
            raise LabelConfigError(f"{tag} has no <{self.label_tag}> values")
        mapping = self.label_map(classes)
        if not mapping:
            raise LabelConfigError(
                f"no value of {tag} matches a class of model {self.model_name!r}. Values: "
                f"{self.labels}; model classes: {classes}. Rename the values, add "
                f'predicted_values="<class>" to a <{self.label_tag}>, or set model_name to a model '
                "trained for these values."
            )
        missing = [label for label in self.labels if label not in mapping]
        if missing:
            log.warning(
                "%s: values %s match no class of %s (classes: %s); they are never predicted",
                tag,
                missing,
                self.model_name,
                classes,
            )
