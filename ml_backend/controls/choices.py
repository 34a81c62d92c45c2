"""``<Choices>`` on an ``<Image>``: defect classes from the classifier.

Tag attributes (env fallback in brackets):
``model_name`` [CLASSIFIER_MODEL] — zoo name, directory or hub id;
``model_score_threshold`` [SCORE_THRESHOLD for multi-label, 0 for single] — minimum probability;
``model_skip="true"`` — leave this tag alone;
``predicted_values="a,b"`` on a ``<Choice>`` — classifier classes that count as this choice.
When a CAM ``<BrushLabels>`` reads the same classifier, the probabilities come from its pass
(:mod:`ml_backend.serving.shared_pass`): one forward for both tags.
Classes match labels by name, ignoring case, spaces, ``-`` and ``_`` ("Net crack" = net_crack).
"""

from __future__ import annotations

import numpy as np

from ml_backend.controls.base import Region, result_item
from ml_backend.controls.classifier_control import ClassifierControl
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
    def threshold(self) -> float:
        default = self.settings.score_threshold if self.multiple else 0.0
        return self.float_option("model_score_threshold", default=default)

    @property
    def classifier(self) -> ImageClassifier:
        return self.models.classifier(self.model_name, self.labels, multi_label=self.multiple)

    @property
    def model_version(self) -> str:
        return self.classifier.version

    def check(self) -> None:
        self.threshold  # noqa: B018 - validates the attribute
        self.check_label_mapping(self.classifier.classes)

    def pass_request(self) -> PassRequest:
        """Probabilities only; a mask control on the same classifier may run the pass."""
        return PassRequest(self.classifier)

    def predict(self, images, shared: Segmentation | None = None) -> list[list[Region]]:
        classifier = self.classifier
        if shared is not None:
            probs = shared.probabilities
        else:
            probs = classifier.predict_proba(images, batch_size=self.settings.predict_batch_size)
        return self.choice_regions(probs, classifier)

    def choice_regions(
        self, probs: np.ndarray, classifier: ImageClassifier, *, keep_best: bool = False
    ) -> list[list[Region]]:
        """The Choices region of each row of class probabilities (``[]``: nothing chosen).

        A choice scores the sum (single-label) or max (multi-label) of the probabilities of its
        classes. Chosen: the best one (single choice) or every one (``choice="multiple"``) at
        ``model_score_threshold`` or above. ``keep_best``: a row where none reaches the threshold
        still gets its best choice (a queue round needs a result for every task).
        """
        mapping = self.label_map(classifier.classes)
        labels = list(mapping)
        if not labels:
            return [[] for _ in range(len(probs))]
        combine = np.max if classifier.multi_label else np.sum
        scores = np.stack([combine(probs[:, mapping[label]], axis=1) for label in labels], axis=1)
        scores = np.clip(scores, 0.0, 1.0)
        threshold = self.threshold
        out = []
        for row in scores:
            if self.multiple:
                chosen = [int(i) for i in np.argsort(-row) if row[i] >= threshold]
            else:
                best = int(np.argmax(row))
                chosen = [best] if row[best] >= threshold else []
            if not chosen and keep_best:
                chosen = [int(np.argmax(row))]
            if not chosen:
                out.append([])
                continue
            score = float(np.mean(row[chosen]))
            out.append([self.region({"choices": [labels[i] for i in chosen]}, score)])
        return out


def choices_result(from_name: str, to_name: str, choices: list[str]) -> dict:
    """A Choices result item, as an annotator submits it."""
    return result_item(from_name, to_name, "choices", {"choices": list(choices)})
