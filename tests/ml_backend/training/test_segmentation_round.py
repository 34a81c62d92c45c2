"""The segmentation part of a training round: trains, scores CAM on the same hold-out, or
skips / fails without harming the classifier's round."""

from __future__ import annotations

import torch

from ml_backend.controls.brush import encode_mask
from ml_backend.training import trainer
from ml_backend.training.segmentation_round import AnnotatedImage, train_round_segmentation
from model_zoo.classifier.model import load_classifier
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


def _handler(tmp_path):
    p = predictor(tmp_path, **ENV)
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


def test_too_few_masks_skip_with_a_message(tmp_path):
    settings, handler = _handler(tmp_path)
    model, record = train_round_segmentation(settings, handler, None, _rows(4))
    assert model is None and record["status"] == "skipped"
    assert "4 masked image(s)" in record["reason"] and "classifier only" in record["reason"]


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
