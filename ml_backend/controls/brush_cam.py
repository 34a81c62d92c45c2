"""``<BrushLabels>`` of defect classes on an ``<Image>``: masks from class-activation maps.

For every class the classifier names (:meth:`ClassifierControl.decision`: learned classes, fitted
per-class thresholds or ``model_score_threshold``, never beside "No defect"), a CAM (grad-cam
library methods) is turned into proposals (:mod:`model_zoo.cam.pipeline`): one brush region per
connected component, at the image's original size, scored ``class probability x the map's peak
inside the component``. The probabilities and the maps come from one forward pass, which also
serves the ``<Choices>`` of the same classifier (:mod:`ml_backend.serving.shared_pass`). Labels map to classifier classes as for ``<Choices>``: by name (case, spaces, ``-``
and ``_`` ignored) or with ``predicted_values="class_a,class_b"`` on a ``<Label>``; labels that
match no class ("No defect" has no mask) are never predicted.

Tag attributes (env fallback in brackets):
``model_name`` [CLASSIFIER_MODEL]; ``model_score_threshold`` [SCORE_THRESHOLD];
``model_cam_method`` [CAM_METHOD]; ``model_cam_threshold`` [CAM_THRESHOLD];
``model_min_area`` [CAM_MIN_AREA]; ``model_refine`` [CAM_REFINE]; ``model_cam_layers``
[CAM_LAYERS]; ``model_cam_input_size`` [CAM_INPUT_SIZE]; ``model_skip``.

Nothing is drawn before the project's first trained version (a fresh head's outputs are random),
and the learned segmentation model, when it serves, draws only the classes the classifier names.

This handler is the general fallback for ``<BrushLabels>``: handlers listed before it in
``CONTROL_HANDLERS`` (e.g. Foreground/Background masks) get the first say. The classifier is
shared with ``<Choices>``: a model already loaded under the same name is reused.
"""

from __future__ import annotations

import logging

from ml_backend.controls.base import Region
from ml_backend.controls.brush_segmentation import (
    mask_source,
    measured_region,
    mm_per_pixel,
    segmentation_regions,
)
from ml_backend.controls.classifier_control import ClassifierControl
from ml_backend.controls.label_config import LabelConfigError
from ml_backend.serving.shared_pass import PassRequest
from model_zoo.cam.pipeline import CamConfig, Segmentation, classify_and_segment
from model_zoo.classifier.model import ImageClassifier

log = logging.getLogger(__name__)

#: attribute -> (settings field, environment variable)
OPTIONS = {
    "model_cam_method": ("cam_method", "CAM_METHOD"),
    "model_cam_threshold": ("cam_threshold", "CAM_THRESHOLD"),
    "model_min_area": ("cam_min_area", "CAM_MIN_AREA"),
    "model_refine": ("cam_refine", "CAM_REFINE"),
    "model_cam_layers": ("cam_layers", "CAM_LAYERS"),
    "model_cam_input_size": ("cam_input_size", "CAM_INPUT_SIZE"),
}


class CamBrushHandler(ClassifierControl):
    result_type = "brushlabels"
    live_for_this_control = False  # the classifier trained for the <Choices> serves the masks too

    def _option(self, attribute: str) -> str:
        field, _ = OPTIONS[attribute]
        return str(self.option(attribute, field))

    @property
    def cam_config(self):
        values = {a: self._option(a) for a in OPTIONS}
        where = ", ".join(f'{a}="{v}" [{OPTIONS[a][1]}]' for a, v in values.items())
        try:
            return CamConfig(
                method=values["model_cam_method"],
                threshold=values["model_cam_threshold"],
                min_area=int(values["model_min_area"]),
                refine=values["model_refine"],
                layers=values["model_cam_layers"],
                input_size=int(values["model_cam_input_size"]),
                score_threshold=self.float_option("model_score_threshold", "score_threshold"),
            )
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise LabelConfigError(
                f'<BrushLabels name="{self.control.name}">: {message} (options: {where}; set '
                "the tag attribute or the environment variable in brackets)"
            ) from None

    @property
    def classifier(self) -> ImageClassifier:
        """The model the ``<Choices>`` of this config already loaded, else one of our own."""
        name = self.model_name
        for model in self.models.find(name):
            if self.label_map(model.classes):
                return model
        return self.models.classifier(name, self.labels, multi_label=True)

    @property
    def model_version(self) -> str:
        return self.version_of(self.classifier)

    def sam(self):
        from model_zoo.device import resolve_device
        from model_zoo.sam.refiner import load_sam, sam_note

        note = sam_note(self.settings.sam_checkpoint, self.settings.sam_model_type)
        if note:
            raise LabelConfigError(
                f'<BrushLabels name="{self.control.name}"> asks for model_refine="sam": {note}'
            )
        device = str(resolve_device(self.settings.device))
        return load_sam(self.settings.sam_checkpoint, self.settings.sam_model_type, device)

    def check(self) -> None:
        mask_source(self)  # a bad model_mask_source / model_mm_per_pixel fails at /setup
        mm_per_pixel(self)
        config = self.cam_config
        if "sam" in config.refine:
            self.sam()
        self.check_label_mapping(self.classifier.classes)

    def label_of(self, classes: list[str]) -> dict[int, str]:
        """Classifier class index -> the brush label it is drawn as."""
        out: dict[int, str] = {}
        for label, indices in self.label_map(classes).items():
            for index in indices:
                out.setdefault(index, label)
        return out

    def pass_request(self) -> PassRequest | None:
        """What this control needs from the shared classifier pass (None: nothing to draw)."""
        classifier = self.classifier
        label_of = self.label_of(classifier.classes)
        if not label_of or not self.serves(classifier):
            return None
        return PassRequest(
            classifier, self.cam_config, tuple(sorted(label_of)), self.decision(classifier)
        )

    def predict(self, images, shared: Segmentation | None = None) -> list[list[Region]]:
        request = self.pass_request()
        if request is None:
            return [[] for _ in images]
        _choice, folder = mask_source(self)
        if folder is not None:  # a learned segmentation model beats CAM (or is forced)
            return self._named_only(
                request, images, shared, segmentation_regions(self, folder, images)
            )
        scale = mm_per_pixel(self)
        label_of = self.label_of(request.classifier.classes)
        if shared is None:
            sam = self.sam() if "sam" in request.cam_config.refine else None
            found = classify_and_segment(
                request.classifier,
                images,
                request.cam_config,
                list(request.classes),
                sam=sam,
                present=request.decision.present,
            ).masks
        else:
            found = shared.masks
        out = []
        for per_image in found:
            regions = []
            for masks in per_image:
                if masks.class_index not in label_of:
                    continue
                label = label_of[masks.class_index]
                for proposal in masks.proposals:
                    mask = proposal.full_mask()
                    regions.append(measured_region(self, mask, label, proposal.score, scale))
            out.append(regions)
        return out

    def _named_only(self, request: PassRequest, images, shared, regions: list[list[Region]]):
        """Keep the regions of the labels the classifier names on each image."""
        if shared is not None:
            probs = shared.probabilities
        else:
            probs = request.classifier.predict_proba(images, self.settings.predict_batch_size)
        label_of = self.label_of(request.classifier.classes)
        named = [
            {label_of[c] for c in present if c in label_of}
            for present in request.decision.present(probs)
        ]
        return [
            [r for r in found if r.item["value"]["brushlabels"][0] in labels]
            for found, labels in zip(regions, named, strict=True)
        ]
