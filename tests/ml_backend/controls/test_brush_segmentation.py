"""The defect BrushLabels handler switches to the segmentation model once it beats CAM."""

from __future__ import annotations

import pytest
import torch

from ml_backend.controls.brush import decode_mask
from ml_backend.controls.brush_cam import CamBrushHandler
from ml_backend.controls.label_config import LabelConfigError
from model_zoo.segmentation import SegmentationModel
from model_zoo.segmentation.encoders import ENCODERS
from model_zoo.segmentation.network import build_network
from tests.images import random_image
from tests.ml_backend.controls.test_brush_cam import brush_xml, predictor

PROJECT = "7"


def _everywhere_model() -> SegmentationModel:
    """A tiny segmentation network whose output says "Crack" at every pixel."""
    network = build_network(ENCODERS["tiny-random"], 1, pretrained=False)
    with torch.no_grad():
        network.segmentation_head[0].weight.zero_()
        network.segmentation_head[0].bias.fill_(8.0)
    return SegmentationModel(network, ["Crack"], "tiny-random", 64, 0.5, {}, "cpu")


def _live_version(p, seg_iou: float | None, cam_iou: float | None, **extra) -> None:
    from model_zoo.classifier.model import load_classifier

    classifier = load_classifier("tiny-vit", ["Crack", "Rust"], device="cpu", multi_label=True)
    seg = _everywhere_model()

    def write(tmp):
        classifier.save(tmp, version="p7-v1")
        seg.save(tmp / "segmentation")

    record = {"holdout_mean_iou": seg_iou, "cam_holdout_mean_iou": cam_iou, "status": "trained"}
    record.update(extra)
    p.models.store.add_version(
        p.models.project_scope(PROJECT), "p7-v1", write, {"segmentation": record}
    )


def _brush(p, attrs: str = "") -> CamBrushHandler:
    xml = brush_xml('<Label value="Crack"/>', f'model_min_area="0" {attrs}')
    _, handlers = p.handlers(xml, PROJECT)
    (handler,) = handlers
    handler.check()
    return handler


@pytest.fixture
def better_segmentation(tmp_path):
    p = predictor(tmp_path, SCORE_THRESHOLD="0.0")
    _live_version(p, seg_iou=0.6, cam_iou=0.1)
    return p


def test_segmentation_serves_when_it_beats_cam_with_measures_on_the_region(better_segmentation):
    handler = _brush(better_segmentation, 'model_mm_per_pixel="0.5"')
    image = random_image(90, 60, seed=1)
    (regions,) = handler.predict([image])
    assert len(regions) == 1  # everything is "Crack": one connected component
    item = regions[0].item
    assert decode_mask(item["value"]["rle"], 60, 90).all()
    assert item["score"] == pytest.approx(1.0, abs=1e-3)
    (text,) = item["meta"]["text"]
    assert "mm" in text and "length" in text


def test_the_tag_can_force_cam(better_segmentation):
    handler = _brush(better_segmentation, 'model_mask_source="cam"')
    (regions,) = handler.predict([random_image(90, 60, seed=1)])
    for r in regions:  # CAM proposals never cover the whole image
        assert not decode_mask(r.item["value"]["rle"], 60, 90).all()
        assert "px" in r.item["meta"]["text"][0]


def test_cam_keeps_serving_while_segmentation_is_worse(tmp_path):
    p = predictor(tmp_path, SCORE_THRESHOLD="0.0")
    _live_version(p, seg_iou=0.1, cam_iou=0.4)
    handler = _brush(p)
    for r in handler.predict([random_image(90, 60, seed=2)])[0]:
        assert not decode_mask(r.item["value"]["rle"], 60, 90).all()
    forced = _brush(p, 'model_mask_source="segmentation"')
    (regions,) = forced.predict([random_image(90, 60, seed=2)])
    assert len(regions) == 1 and decode_mask(regions[0].item["value"]["rle"], 60, 90).all()


@pytest.mark.parametrize(
    "attrs", ['model_mask_source="sam"', 'model_mm_per_pixel="-1"', 'model_mm_per_pixel="x"']
)
def test_bad_attributes_fail_at_setup(tmp_path, attrs):
    p = predictor(tmp_path)
    with pytest.raises(LabelConfigError, match="mask source|mm_per_pixel"):
        _brush(p, attrs)


def test_health_and_versions_say_which_source_serves_and_why(better_segmentation):
    from ml_backend.controls.brush_segmentation import mask_source_of

    store = better_segmentation.models.store
    meta = store.meta(store.live_path(better_segmentation.models.project_scope(PROJECT)))
    assert mask_source_of(meta)["source"] == "cam"  # the test record has no "serves"
    served = mask_source_of({"segmentation": {"serves": {"source": "segmentation", "reason": "r"}}})
    assert served["source"] == "segmentation" and served["reason"] == "r"
    skipped = mask_source_of({"segmentation": {"status": "skipped", "reason": "3 masked"}})
    assert skipped == {
        "source": "cam",
        "reason": "3 masked",
        "segmentation_status": "skipped",
        "trained_on": None,
    }


def test_a_weak_model_without_corrected_masks_serves_by_default(tmp_path):
    p = predictor(tmp_path, SCORE_THRESHOLD="0.0")
    _live_version(p, None, None, serves_by_default="weak: better than CAM on real photos")
    (regions,) = _brush(p).predict([random_image(90, 60, seed=3)])
    assert len(regions) == 1 and decode_mask(regions[0].item["value"]["rle"], 60, 90).all()
    unscored = predictor(tmp_path / "other", SCORE_THRESHOLD="0.0")
    _live_version(unscored, None, None)  # no default: CAM until it is scored
    for r in _brush(unscored).predict([random_image(90, 60, seed=3)])[0]:
        assert not decode_mask(r.item["value"]["rle"], 60, 90).all()
