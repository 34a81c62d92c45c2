"""``<BrushLabels>`` Foreground/Background/Uncertain from CLIPSeg prompt ensembles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_backend.controls import CONTROL_HANDLERS, handler_class
from ml_backend.controls.brush import decode_mask
from ml_backend.controls.brush_foreground import ForegroundBrushHandler
from ml_backend.controls.label_config import LabelConfigError, parse_label_config
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.predictor import Predictor
from tests.images import random_image
from tests.ml_backend.conftest import make_settings

REPO = Path(__file__).resolve().parents[3]
FOREGROUND_XML = (REPO / "label_config" / "foreground.xml").read_text()
INSPECTION_XML = (REPO / "label_config" / "inspection.xml").read_text()


class _NoFetch:
    def fetch_image(self, url, task_id=None):
        raise AssertionError("not used")


def brush(labels: str, attrs: str = "") -> str:
    return (
        '<View><Image name="img" value="$photo"/>'
        f'<BrushLabels name="fg" toName="img" {attrs}>{labels}</BrushLabels></View>'
    )


def handlers_for(tmp_path, xml, **env):
    env.setdefault("CLIPSEG_MODEL", "tiny-clipseg")
    settings = make_settings(tmp_path, **env)
    predictor = Predictor(settings, ModelCache(settings), _NoFetch())
    return predictor.handlers(xml)[1]


def test_registered_first_for_brushlabels():
    assert CONTROL_HANDLERS["brushlabels"][0] is ForegroundBrushHandler


@pytest.mark.parametrize(
    "labels, ours",
    [
        ('<Label value="Foreground"/><Label value="Background"/>', True),
        ('<Label value="background"/>', True),
        ('<Label value="Asset" prompts="bridge"/><Label value="Rest"/>', True),
        ('<Label value="Asset" predicted_values="foreground"/>', True),
        ('<Label value="Crack"/><Label value="Rust"/>', False),
    ],
)
def test_matches(labels, ours):
    control = parse_label_config(brush(labels)).get_control("fg")
    assert (handler_class(control) is ForegroundBrushHandler) == ours


def test_shipped_configs(tmp_path):
    (fg,) = handlers_for(tmp_path, FOREGROUND_XML)
    assert isinstance(fg, ForegroundBrushHandler)
    assert fg.ensemble.label == "E3" and fg.roles["uncertain"] == "Uncertain"
    inspection = handlers_for(tmp_path, INSPECTION_XML)
    ours = [h for h in inspection if isinstance(h, ForegroundBrushHandler)]
    assert [h.control.name for h in ours] == ["surface"]  # the defect masks are not ours


def test_prompt_sources_in_order(tmp_path):
    xml = brush('<Label value="Foreground" prompts="bridge; pillar"/><Label value="Background"/>')
    (h,) = handlers_for(tmp_path, xml, BACKGROUND_PROMPTS="river;clouds")
    assert h.ensemble.foreground == ("bridge", "pillar")
    assert h.ensemble.background == ("river", "clouds")  # env, no label prompts, no tag preset
    xml = brush('<Label value="Foreground"/><Label value="Background"/>', 'model_ensemble="E1"')
    (h,) = handlers_for(tmp_path, xml, BACKGROUND_PROMPTS="river")
    assert h.ensemble.label == "E1"  # the tag's preset wins over the environment
    (h,) = handlers_for(
        tmp_path,
        brush('<Label value="Foreground"/><Label value="Background"/>'),
        CLIPSEG_ENSEMBLE="E2",
    )
    assert h.ensemble.label == "E2"
    assert h.model_version == "tiny-clipseg-random-seed0:E2"


@pytest.mark.parametrize(
    "labels, attrs, message",
    [
        ('<Label value="Foreground" prompts=";;"/><Label value="Background"/>', "", "no prompt"),
        ('<Label value="Foreground"/>', 'model_ensemble="E7"', "unknown ensemble"),
        ('<Label value="Foreground"/>', 'model_uncertainty_threshold="2"', r"\[0.0, 1.0\]"),
        ('<Label value="Foreground"/>', 'model_combine="vote"', "softmax, mean"),
        ('<Label value="A" prompts="x"/><Label value="B" prompts="y"/>', "", "no Foreground"),
        (
            '<Label value="Foreground" prompts="sky"/><Label value="Background" prompts="sky"/>',
            "",
            "both",
        ),
    ],
)
def test_bad_configs_are_refused_at_setup(tmp_path, labels, attrs, message):
    (h,) = handlers_for(tmp_path, brush(labels, attrs))
    with pytest.raises(LabelConfigError, match=message):
        h.check()


def test_predict_full_size_partition_and_scores(tmp_path):
    settings = make_settings(tmp_path, CLIPSEG_MODEL="tiny-clipseg")
    predictor = Predictor(settings, ModelCache(settings), _NoFetch())
    interface, (h,) = predictor.handlers(FOREGROUND_XML.replace("$image", "$photo"))
    h.check()
    images = [random_image(130, 70, seed=1), random_image(45, 301, seed=2, mode="RGBA")]
    # threshold 0: every pixel is uncertain enough, so the Uncertain region must be the image
    h.control.attr["model_uncertainty_threshold"] = "0"
    batch = h.predict(images)
    for image, regions in zip(images, batch, strict=True):
        masks = {}
        for region in regions:
            item = region.item
            assert interface.validate_region(item, return_errors=True) == []
            assert (item["original_width"], item["original_height"]) == image.size
            (label,) = item["value"]["brushlabels"]
            masks[label] = decode_mask(item["value"]["rle"], image.height, image.width)
            assert 0.0 <= item["score"] <= 1.0
        fg = masks.get("Foreground", np.zeros((image.height, image.width), bool))
        bg = masks.get("Background", np.zeros((image.height, image.width), bool))
        assert not (fg & bg).any() and (fg | bg).all()
        assert masks["Uncertain"].all()
    # the masks are the ensemble's decision, upsampled to the original size
    from model_zoo.clipseg.ensembles import segment_foreground

    (expected,) = segment_foreground(h.clipseg, images[:1], h.ensemble)
    got = {r.item["value"]["brushlabels"][0]: r for r in batch[0]}
    for label, want in [("Foreground", expected.foreground), ("Background", expected.background)]:
        assert (label in got) == bool(want.any())
        if label in got:
            mask = decode_mask(got[label].item["value"]["rle"], 70, 130)
            assert np.array_equal(mask, want)
            assert got[label].score == pytest.approx(
                1 - expected.uncertainty[want].mean(), abs=1e-5
            )


def test_no_uncertain_label_no_uncertain_region(tmp_path):
    xml = brush('<Label value="Foreground"/><Label value="Background"/>')
    (h,) = handlers_for(tmp_path, xml)
    (regions,) = h.predict([random_image(50, 40)])
    assert {r.item["value"]["brushlabels"][0] for r in regions} <= {"Foreground", "Background"}
