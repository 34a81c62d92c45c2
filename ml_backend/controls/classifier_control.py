"""What the controls served by the defect classifier share (``<Choices>``, CAM ``<BrushLabels>``).

Which model: the project's live trained version if there is one, else the tag's ``model_name``,
else ``CLASSIFIER_MODEL``. How labels map to classifier classes: by name, ignoring case, spaces,
``-`` and ``_`` ("Net crack" = net_crack), or through ``predicted_values="a,b"`` on a label tag.

What is served: nothing from a model whose head was never trained for these labels (its outputs
are random); otherwise the classes :class:`~model_zoo.classifier.decision.ClassDecision` names:
learned classes only, per-class thresholds fitted in the round (``model_score_threshold`` on
the tag overrides them), and the exclusive classes (``EXCLUSIVE_CLASSES``, or the tag's
``model_exclusive``; "No defect" by default) never beside a defect.
"""

from __future__ import annotations

import dataclasses
import logging

from ml_backend.controls.base import ControlHandler
from ml_backend.controls.label_config import LabelConfigError, label_aliases, tag_option
from ml_backend.serving.project_state import untrained_message
from model_zoo.classifier.decision import ClassDecision, decision_for
from model_zoo.classifier.model import ImageClassifier, canonical_class_name

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

    def exclusive_names(self) -> list[str]:
        """Classes (or labels of this tag) that exclude every other class: the tag's
        ``model_exclusive="No defect"``, else ``EXCLUSIVE_CLASSES``."""
        own = tag_option(self.control, "model_exclusive", None)
        names = own.split(",") if own is not None else list(self.settings.exclusive_classes)
        out = []
        for name in (n.strip() for n in names if n.strip()):
            out.append(name)
            if name in self.labels:  # a label: the classes it stands for
                out += label_aliases(self.control, name)
        return out

    def threshold_override(self) -> float | None:
        """The tag's ``model_score_threshold`` (a number replaces every fitted threshold)."""
        if tag_option(self.control, "model_score_threshold", None) in {None, "", "auto"}:
            return None
        return self.float_option("model_score_threshold")

    def decision(self, classifier: ImageClassifier, own_only: bool = False) -> ClassDecision:
        """Which classes an image shows, for this tag (see the module docstring).
        ``own_only``: among the classes this tag has a label for (a ``<Choices>`` names the
        best of its own choices; a mask tag must still see "No defect" win)."""
        decision = decision_for(
            classifier.classes,
            classifier.meta,
            multi_label=classifier.multi_label,
            exclusive=self.exclusive_names(),
            default_threshold=float(self.settings.score_threshold),
            threshold_override=self.threshold_override(),
        )
        if not own_only:
            return decision
        mapped = {c for indices in self.label_map(classifier.classes).values() for c in indices}
        known = tuple(k and i in mapped for i, k in enumerate(decision.known))
        return dataclasses.replace(decision, known=known)

    def ready(self) -> bool:
        return self.serves(self.classifier)

    def version_of(self, classifier: ImageClassifier) -> str:
        """The version predictions carry; before the first trained version, the project's state
        in words (Label Studio's model card shows it)."""
        if self.serves(classifier):
            return classifier.version
        return untrained_message(self.settings, self.project)

    @staticmethod
    def serves(classifier: ImageClassifier) -> bool:
        """Whether ``classifier``'s outputs may be served: its head was trained for its classes
        (a fresh head on a pretrained backbone gives random outputs)."""
        return bool(classifier.head_trained)
