"""``<Choices>`` on an ``<Image>``: defect classes from the classifier.

Tag attributes (env fallback in brackets):
``model_name`` [CLASSIFIER_MODEL] — zoo name, directory or hub id;
``model_score_threshold`` — a minimum probability for every class of a multi-label model,
replacing the per-class thresholds the training round fitted (``auto`` or absent: the fitted
ones, else SCORE_THRESHOLD);
``model_exclusive`` [EXCLUSIVE_CLASSES] — choices that never stand beside another ("No defect");
``model_skip="true"`` — leave this tag alone;
``predicted_values="a,b"`` on a ``<Choice>`` — classifier classes that count as this choice.
When a CAM ``<BrushLabels>`` reads the same classifier, the probabilities come from its pass
(:mod:`ml_backend.serving.shared_pass`): one forward for both tags.
Classes match labels by name, ignoring case, spaces, ``-`` and ``_`` ("Net crack" = net_crack).
Before the project's first trained version nothing is chosen: a fresh head's outputs are random
(:meth:`ClassifierControl.serves`), unless ``ZERO_SHOT_MODEL`` names a CLIP model, whose
zero-shot scores of the choice names (:mod:`model_zoo.zeroshot`) then choose the best choice.
"""

from __future__ import annotations

import numpy as np

from ml_backend.controls.base import Region, result_item
from ml_backend.controls.classifier_control import ClassifierControl
from ml_backend.controls.label_config import label_aliases
from ml_backend.serving.shared_pass import PassRequest
from model_zoo.cam.pipeline import Segmentation
from model_zoo.classifier.model import ImageClassifier


class ChoicesHandler(ClassifierControl):
    result_type = "choices"
    label_tag = "Choice"

    @property
    def multiple(self) -> bool:
        return str(self.option("choice", default="single")).lower() == "multiple"

    @property
    def classifier(self) -> ImageClassifier:
        return self.models.classifier(self.model_name, self.labels, multi_label=self.multiple)

    @property
    def model_version(self) -> str:
        classifier = self.classifier
        if not self.serves(classifier) and self.settings.zero_shot_model:
            return f"zero-shot-{self.models.zero_shot(self.settings.zero_shot_model).version}"
        return self.version_of(classifier)

    def ready(self) -> bool:
        return self.serves(self.classifier) or bool(self.settings.zero_shot_model)

    def check(self) -> None:
        self.threshold_override()  # validates the attribute
        self.check_label_mapping(self.classifier.classes)

    def pass_request(self) -> PassRequest | None:
        """Probabilities only; a mask control on the same classifier may run the pass."""
        classifier = self.classifier
        return PassRequest(classifier) if self.serves(classifier) else None

    def predict(self, images, shared: Segmentation | None = None) -> list[list[Region]]:
        classifier = self.classifier
        if not self.serves(classifier):
            return self.zero_shot_regions(images)
        if shared is not None:
            probs = shared.probabilities
        else:
            probs = classifier.predict_proba(images, batch_size=self.settings.predict_batch_size)
        return self.choice_regions(probs, classifier)

    def zero_shot_regions(self, images) -> list[list[Region]]:
        """Before the first trained version: the best choice by CLIP's zero-shot scores of the
        choice names (their ``predicted_values``), if ``ZERO_SHOT_MODEL`` is set; else nothing."""
        if not self.settings.zero_shot_model:
            return [[] for _ in images]
        model = self.models.zero_shot(self.settings.zero_shot_model)
        names = [label_aliases(self.control, label)[0] for label in self.labels]
        probs = model.predict_proba(images, names, batch_size=self.settings.predict_batch_size)
        return [
            [self.region({"choices": [self.labels[int(np.argmax(row))]]}, float(np.max(row)))]
            for row in probs
        ]

    def choice_regions(
        self, probs: np.ndarray, classifier: ImageClassifier, *, keep_best: bool = False
    ) -> list[list[Region]]:
        """The Choices region of each row of class probabilities (``[]``: nothing chosen).

        The classes chosen are the decision's (:meth:`ClassifierControl.decision`); a choice
        scores the sum (single-label) or max (multi-label) of the probabilities of its classes,
        and a single choice tag keeps the best one. ``keep_best``: a row where nothing is chosen
        still gets its best learned choice (a queue round needs a result for every task).
        """
        mapping = self.label_map(classifier.classes)
        if not mapping:
            return [[] for _ in range(len(probs))]
        label_of = {c: label for label, indices in mapping.items() for c in indices}
        combine = np.max if classifier.multi_label else np.sum
        out = []
        for row, present in zip(
            probs,
            self.decision(classifier, own_only=True).present(probs, keep_best=keep_best),
            strict=True,
        ):
            labels = list(dict.fromkeys(label_of[c] for c in present if c in label_of))
            if not self.multiple:
                labels = labels[:1]
            if not labels:
                out.append([])
                continue
            scores = [float(np.clip(combine(row[mapping[label]]), 0.0, 1.0)) for label in labels]
            out.append([self.region({"choices": labels}, float(np.mean(scores)))])
        return out


def choices_result(from_name: str, to_name: str, choices: list[str]) -> dict:
    """A Choices result item, as an annotator submits it."""
    return result_item(from_name, to_name, "choices", {"choices": list(choices)})
