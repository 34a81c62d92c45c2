"""``<Choices>`` on an ``<Image>``: defect classes from the classifier.

Tag attributes (env fallback in brackets):
``model_name`` [CLASSIFIER_MODEL] — zoo name, directory or hub id;
``model_score_threshold`` [SCORE_THRESHOLD for multi-label, 0 for single] — minimum probability;
``model_skip="true"`` — leave this tag alone;
``predicted_values="a,b"`` on a ``<Choice>`` — classifier classes that count as this choice.
Classes match labels by name, ignoring case, spaces, ``-`` and ``_`` ("Net crack" = net_crack).
"""

from __future__ import annotations

import logging

import numpy as np

from ml_backend.controls.base import ControlHandler, Region
from ml_backend.label_config import LabelConfigError, label_aliases, tag_float, tag_option
from model_zoo.classifier import ImageClassifier, canonical_class_name

log = logging.getLogger(__name__)


class ChoicesHandler(ControlHandler):
    result_type = "choices"

    @property
    def labels(self) -> list[str]:
        return list(self.control.labels)

    @property
    def multiple(self) -> bool:
        return str(self.control.attr.get("choice", "single")).lower() == "multiple"

    @property
    def model_name(self) -> str:
        """The project's live trained version if there is one, else the tag's or default model."""
        live = self.models.live_model(self.project, self.control.name)
        return str(live) if live is not None else self.configured_model_name

    @property
    def configured_model_name(self) -> str:
        """The tag's ``model_name`` or ``CLASSIFIER_MODEL``: where training starts from."""
        return tag_option(self.control, "model_name", self.settings.classifier_model)

    @property
    def threshold(self) -> float:
        default = self.settings.score_threshold if self.multiple else 0.0
        return tag_float(self.control, "model_score_threshold", default)

    @property
    def classifier(self) -> ImageClassifier:
        return self.models.classifier(self.model_name, self.labels, multi_label=self.multiple)

    @property
    def model_version(self) -> str:
        return self.classifier.version

    def label_map(self, classes: list[str]) -> dict[str, list[int]]:
        """For each label, the indices of the classifier classes that count as it."""
        index = {}
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

    def check(self) -> None:
        if not self.labels:
            raise LabelConfigError(f'<Choices name="{self.control.name}"> has no <Choice> values')
        self.threshold  # noqa: B018 - validates the attribute
        classes = self.classifier.classes
        mapping = self.label_map(classes)
        if not mapping:
            raise LabelConfigError(
                f'no choice of <Choices name="{self.control.name}"> matches a class of model '
                f"{self.model_name!r}. Choices: {self.labels}; model classes: {classes}. Rename the "
                'choices, add predicted_values="<class>" to a <Choice>, or set model_name to a '
                "model trained for these choices."
            )
        missing = [label for label in self.labels if label not in mapping]
        if missing:
            log.warning(
                "Choices %r: labels %s match no class of %s (classes: %s); they are never predicted",
                self.control.name,
                missing,
                self.model_name,
                classes,
            )

    def predict(self, images) -> list[list[Region]]:
        classifier = self.classifier
        probs = classifier.predict_proba(images, batch_size=self.settings.predict_batch_size)
        mapping = self.label_map(classifier.classes)
        labels = list(mapping)
        if not labels:
            return [[] for _ in images]
        combine = np.max if classifier.multi_label else np.sum
        scores = np.stack([combine(probs[:, mapping[label]], axis=1) for label in labels], axis=1)
        scores = np.clip(scores, 0.0, 1.0)
        threshold = self.threshold
        out = []
        for row in scores:
            if self.multiple:
                chosen = [i for i in np.argsort(-row) if row[i] >= threshold]
            else:
                best = int(np.argmax(row))
                chosen = [best] if row[best] >= threshold else []
            if not chosen:
                out.append([])
                continue
            score = float(np.mean(row[chosen]))
            out.append([self.region({"choices": [labels[i] for i in chosen]}, score)])
        return out
