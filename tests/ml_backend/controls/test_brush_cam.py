import numpy as np
import pytest
from PIL import Image

from ml_backend.controls import handler_class
from ml_backend.controls.brush import decode_mask
from ml_backend.controls.brush_cam import CamBrushHandler
from ml_backend.controls.label_config import LabelConfigError, parse_label_config
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.predictor import Predictor
from tests.images import random_image
from tests.ml_backend.conftest import DEFECTS_XML, make_settings

BRUSH_LABELS = set(parse_label_config(DEFECTS_XML).get_control("defect_mask").labels)


class _NoFetch:
    def fetch_image(self, url, task_id=None):
        raise AssertionError("not used")


def brush_xml(labels: str, attrs: str = "") -> str:
    return (
        '<View><Image name="img" value="$photo"/>'
        f'<BrushLabels name="mask" toName="img" {attrs}>{labels}</BrushLabels></View>'
    )


def predictor(tmp_path, **env) -> Predictor:
    settings = make_settings(tmp_path, **env)
    return Predictor(settings, ModelCache(settings), _NoFetch())


def run(predictor: Predictor, xml: str, images: list[Image.Image]):
    interface, handlers = predictor.handlers(xml)
    for h in handlers:
        h.check()
    return interface, [
        [r.item for h in handlers for r in h.predict(images)[i]] for i in range(len(images))
    ]


def test_defect_brushlabels_are_served_by_the_cam_handler():
    interface = parse_label_config(DEFECTS_XML)
    assert handler_class(interface.get_control("defect_mask")) is CamBrushHandler


def test_masks_at_original_size_with_mapped_labels(tmp_path, crack_model):
    xml = brush_xml(
        '<Label value="Crack"/><Label value="Corrosion" predicted_values="rust"/>',
        f'model_name="{crack_model}" model_min_area="0"',
    )
    images = [random_image(130, 90, seed=1), random_image(50, 70, seed=2)]
    interface, results = run(predictor(tmp_path), xml, images)
    for image, items in zip(images, results, strict=True):
        assert items, "a confident class gets at least one region"
        union = np.zeros(image.size[::-1], dtype=bool)
        for item in items:
            assert item["type"] == "brushlabels" and item["value"]["brushlabels"] == ["Crack"]
            assert (item["original_width"], item["original_height"]) == image.size
            mask = decode_mask(item["value"]["rle"], image.height, image.width)
            assert mask.any() and not (mask & union).any()  # one region per component
            union |= mask
            assert 0.0 < item["score"] <= 1.0
            assert not interface.validate_region(item, return_errors=True)


def test_an_untrained_classifier_draws_nothing(tmp_path):
    p = predictor(tmp_path, SCORE_THRESHOLD="0.0", CAM_MIN_AREA="0")
    _, handlers = p.handlers(DEFECTS_XML)
    brush = next(h for h in handlers if isinstance(h, CamBrushHandler))
    assert not brush.ready() and brush.pass_request() is None
    assert brush.predict([random_image(80, 60, seed=3)]) == [[]]
    assert brush.model_version.startswith("no trained version yet")


def test_masks_only_for_the_class_the_classifier_names(tmp_path, trained_tiny):
    """One classifier for both tags; a mask only for the named class, never "No defect"."""
    p = predictor(tmp_path, CAM_MIN_AREA="0", CLASSIFIER_MODEL=trained_tiny)
    interface, handlers = p.handlers(DEFECTS_XML)
    for h in handlers:
        h.check()
    choices = next(h for h in handlers if not isinstance(h, CamBrushHandler))
    brush = next(h for h in handlers if isinstance(h, CamBrushHandler))
    images = [random_image(80, 60, seed=s) for s in range(8)]
    named = choices.predict(images)
    drawn = brush.predict(images)
    assert len(p.models.loaded()) == 1  # the Choices' classifier is reused
    for chosen, regions in zip(named, drawn, strict=True):
        (choice,) = chosen
        labels = {r.item["value"]["brushlabels"][0] for r in regions}
        assert labels <= set(choice.item["value"]["choices"]) & BRUSH_LABELS
        assert "No defect" not in labels


def test_blank_and_uniform_images_get_no_masks(tmp_path, crack_model):
    xml = brush_xml('<Label value="Crack"/>', f'model_name="{crack_model}"')
    images = [Image.new("RGB", (60, 40)), Image.new("RGB", (30, 30), (120, 118, 110))]
    _, results = run(predictor(tmp_path), xml, images)
    assert results == [[], []]


def test_tiny_images(tmp_path, crack_model):
    xml = brush_xml('<Label value="Crack"/>', f'model_name="{crack_model}" model_min_area="0"')
    images = [random_image(2, 3, seed=4), random_image(1, 1, seed=5)]
    _, results = run(predictor(tmp_path), xml, images)
    for image, items in zip(images, results, strict=True):
        for item in items:
            assert decode_mask(item["value"]["rle"], image.height, image.width).shape == (
                image.height,
                image.width,
            )


def test_labels_that_match_no_class_are_refused_with_both_sets(tmp_path, crack_model):
    xml = brush_xml(
        '<Label value="Pothole"/><Label value="Graffiti"/>', f'model_name="{crack_model}"'
    )
    _, handlers = predictor(tmp_path).handlers(xml)
    with pytest.raises(LabelConfigError) as err:
        handlers[0].check()
    message = str(err.value)
    assert "Pothole" in message and "Graffiti" in message and "crack" in message
    assert "predicted_values" in message


@pytest.mark.parametrize(
    "attrs, env, needle",
    [
        ('model_cam_method="smoothgrad"', {}, "CAM_METHOD"),
        ("", {"CAM_METHOD": "smoothgrad"}, "smoothgrad"),
        ('model_cam_threshold="half"', {}, "relative:R"),
        ('model_refine="crf"', {}, "tta"),
        ('model_min_area="many"', {}, "model_min_area"),
        ('model_refine="sam"', {}, "SAM_CHECKPOINT"),
    ],
)
def test_bad_options_are_refused_at_setup(tmp_path, crack_model, attrs, env, needle):
    xml = brush_xml('<Label value="Crack"/>', f'model_name="{crack_model}" {attrs}')
    _, handlers = predictor(tmp_path, **env).handlers(xml)
    with pytest.raises(LabelConfigError, match=needle):
        handlers[0].check()


def test_tag_attributes_override_env(tmp_path, crack_model):
    xml = brush_xml(
        '<Label value="Crack"/>',
        f'model_name="{crack_model}" model_cam_method="layercam" model_refine="tta" '
        'model_cam_threshold="otsu" model_min_area="5"',
    )
    _, handlers = predictor(tmp_path, CAM_METHOD="eigencam", CAM_MIN_AREA="999").handlers(xml)
    config = handlers[0].cam_config
    assert (config.method, config.refine, str(config.threshold), config.min_area) == (
        "layercam",
        ("tta",),
        "otsu",
        5,
    )
    big_area = brush_xml('<Label value="Crack"/>', f'model_name="{crack_model}"')
    _, results = run(predictor(tmp_path, CAM_MIN_AREA="100000"), big_area, [random_image(seed=6)])
    assert results == [[]]


def test_health_notes_missing_sam(client):
    notes = client.get("/health").get_json()["notes"]
    assert any("SAM_CHECKPOINT" in n for n in notes)
