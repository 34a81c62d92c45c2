"""The segmentation part of a training round: trains, scores CAM on the same hold-out, or
skips / fails without harming the classifier's round."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ml_backend.controls.brush import encode_mask
from ml_backend.training import trainer
from ml_backend.training.segmentation_round import AnnotatedImage, train_round_segmentation
from model_zoo.classifier.model import load_classifier
from model_zoo.segmentation import weak
from tests.ml_backend.controls.test_brush_cam import brush_xml, predictor
from tests.model_zoo.segmentation.test_train import _spots

XML = brush_xml('<Label value="Spot"/>', 'model_min_area="0"')
ENV = {
    "SEGMENTATION_ENCODER": "tiny-random",
    "SEGMENTATION_EPOCHS": "3",
    "SEGMENTATION_INPUT_SIZE": "64",
    "SCORE_THRESHOLD": "0.0",
}


def _rows(n: int):
    rows = []
    for i, s in enumerate(_spots(n)):
        h, w = s.masks["spot"].shape
        item = {
            "from_name": "mask",
            "type": "brushlabels",
            "original_width": w,
            "original_height": h,
            "value": {
                "format": "rle",
                "rle": encode_mask(s.masks["spot"]),
                "brushlabels": ["Spot"],
            },
        }
        rows.append(AnnotatedImage(s.image, 100 + i, [item]))
    return rows


def _handler(tmp_path, **env):
    p = predictor(tmp_path, **ENV, **env)
    _, (handler,) = p.handlers(XML)
    return p.settings, handler


def test_a_round_trains_and_scores_both_sources_on_one_holdout(tmp_path):
    torch.set_num_threads(1)
    settings, handler = _handler(tmp_path)
    classifier = load_classifier("tiny-vit", ["spot", "other"], device="cpu", multi_label=True)
    model, record = train_round_segmentation(settings, handler, classifier, _rows(12))
    assert model is not None and record["status"] == "trained"
    assert record["masked_images"] == 12 and len(record["holdout_tasks"]) == 2
    assert set(record["holdout_iou"]) == set(record["cam_holdout_iou"]) == {"Spot"}
    assert record["serves"]["source"] in {"cam", "segmentation"} and record["serves"]["reason"]


def test_too_few_masks_without_weak_segmentation_skip_with_a_message(tmp_path):
    settings, handler = _handler(tmp_path, WEAK_SEGMENTATION="false")
    classifier = load_classifier("tiny-vit", ["spot", "other"], device="cpu", multi_label=True)
    model, record = train_round_segmentation(settings, handler, classifier, _rows(4))
    assert model is None and record["status"] == "skipped"
    assert "4 masked image(s)" in record["reason"] and "classifier only" in record["reason"]


def _coarse_cams(_classifier, examples, index, _config):
    cam = np.ones((8, 8), np.float32)
    return [{c: cam for c in e.classes if c in index} for e in examples]


def _labeled(n: int, masks: int = 0):
    """Spot images labeled "spot" (the first ``masks`` with their mask), plain ones "other"."""
    rows = _rows(n)
    for i, row in enumerate(rows):
        row.classes = ["spot"]
        row.brush = row.brush if i < masks else []
    blank = [AnnotatedImage(Image.new("RGB", (72, 72), (110, 110, 110)), 900 + i, [], ["other"])
             for i in range(4)]  # fmt: skip
    return rows + blank


def test_before_any_corrected_mask_the_weak_model_trains_and_serves_by_default(
    tmp_path, monkeypatch
):
    torch.set_num_threads(1)
    monkeypatch.setattr(weak, "_cams", _coarse_cams)
    settings, handler = _handler(tmp_path, WEAK_SEGMENTATION_EPOCHS="1")
    classifier = load_classifier("tiny-vit", ["spot", "other"], device="cpu", multi_label=True)
    model, record = train_round_segmentation(settings, handler, classifier, _labeled(12))
    assert model is not None and record["status"] == "trained"
    assert record["serves"]["source"] == "segmentation"
    assert record["serves_by_default"] and "weakly supervised" in record["serves"]["reason"]
    assert record["trained_on"].startswith("image labels only")
    assert record["weak"]["pseudo_masks"]["background_images"] == 4


def test_with_a_few_masks_the_weak_model_is_scored_against_cam_on_them(tmp_path, monkeypatch):
    monkeypatch.setattr(weak, "_cams", _coarse_cams)
    settings, handler = _handler(tmp_path, WEAK_SEGMENTATION_EPOCHS="1")
    classifier = load_classifier("tiny-vit", ["spot", "other"], device="cpu", multi_label=True)
    model, record = train_round_segmentation(settings, handler, classifier, _labeled(12, 3))
    assert model is not None and record["masked_images"] == 3
    assert record["holdout_mean_iou"] is not None and not record["serves_by_default"]
    assert record["serves"]["reason"].startswith(("it beats CAM", "the segmentation model"))


def test_unusable_pseudo_masks_leave_cam_serving_and_say_so(tmp_path):
    settings, handler = _handler(tmp_path)
    classifier = load_classifier("tiny-vit", ["spot", "other"], device="cpu", multi_label=True)
    rows = [
        AnnotatedImage(Image.new("RGB", (64, 64), (128,) * 3), i, [], ["spot"]) for i in range(5)
    ]
    model, record = train_round_segmentation(settings, handler, classifier, rows)
    assert model is None and record["status"] == "unusable"
    assert "CAM keeps serving" in record["reason"]
    from ml_backend.controls.brush_segmentation import mask_source_of

    assert mask_source_of({"segmentation": record})["source"] == "cam"


class _State:
    """What ``_segmentation_step`` reads of the backend state: settings and the handlers."""

    def __init__(self, settings, handler):
        self.settings = settings
        self.predictor = self
        self._handler = handler

    def handlers(self, _xml, _project):
        return None, [self._handler]


class _TrainingSet:
    examples: list = []


def test_a_crash_is_recorded_not_raised(monkeypatch, tmp_path):
    def boom(*_args, **_kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(trainer, "train_round_segmentation", boom)
    state = _State(*_handler(tmp_path))
    model, record = trainer._segmentation_step(state, XML, "1", None, [], _TrainingSet())
    assert model is None and record["status"] == "failed" and "out of memory" in record["error"]
