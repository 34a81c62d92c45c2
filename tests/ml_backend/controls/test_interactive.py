"""Smart-tool context regions -> prompts, the target BrushLabels and the shape hint."""

import pytest

from ml_backend.controls.interactive import (
    InteractiveError,
    brush_control,
    parse_context,
    shape_hint,
)
from ml_backend.controls.label_config import parse_label_config

CONFIG = """<View><Image name="image" value="$image"/><Image name="other" value="$other"/>
<KeyPointLabels name="click" toName="image" smart="true"><Label value="Crack"/>
<Label value="Rust"/><Label value="Graffiti"/></KeyPointLabels>
<BrushLabels name="mask" toName="image"><Label value="Crack"/>
<Label value="Rust" model_shape="blob"/><Label value="Stain" model_shape="line"/></BrushLabels>
<BrushLabels name="other_mask" toName="other"><Label value="Graffiti"/></BrushLabels></View>"""


def _point(x, y, label="Crack", positive=True, to_name="image"):
    return {
        "type": "keypointlabels",
        "to_name": to_name,
        "is_positive": positive,
        "value": {"x": x, "y": y, "width": 1, "keypointlabels": [label]},
    }


def test_percent_to_pixels_with_negative_clicks_and_a_rotated_box():
    box = {"type": "rectanglelabels", "to_name": "image"}
    box["value"] = {"x": 10, "y": 20, "width": 10, "height": 20, "rotation": 90}
    box["value"]["rectanglelabels"] = ["Crack"]
    request = parse_context({"result": [_point(50, 25), _point(10, 10, positive=False), box]})
    prompts = request.prompts(200, 100)
    assert prompts.points == ((100.0, 25.0), (20.0, 10.0))
    assert prompts.positive == (True, False)
    # 20 x 20 px rotated 90 degrees about its top-left corner (20, 20): x in [0, 20]
    x0, y0, x1, y1 = prompts.boxes[0]
    assert (round(x0, 6), round(y0, 6), round(x1, 6), round(y1, 6)) == (0, 20, 20, 40)


def test_the_last_regions_label_wins_and_other_labels_are_left_out():
    request = parse_context({"result": [_point(1, 1, "Rust"), _point(2, 2), _point(3, 3)]})
    assert request.label == "Crack" and len(request.regions) == 2


@pytest.mark.parametrize("context", [None, {}, {"result": []}, "x"])
def test_not_interactive(context):
    assert parse_context(context) is None


@pytest.mark.parametrize(
    "context, message",
    [
        ({"result": {"a": 1}}, "must be a list"),
        ({"result": [{"type": "keypointlabels", "value": {"x": 1, "y": 1}}]}, "no label"),
        ({"result": [{"type": "keypointlabels"}]}, "no 'value'"),
    ],
)
def test_malformed_context(context, message):
    with pytest.raises(InteractiveError, match=message):
        parse_context(context)


def test_brush_control_by_label_and_image():
    interface = parse_label_config(CONFIG)
    assert brush_control(interface, parse_context({"result": [_point(1, 1)]})).name == "mask"
    graffiti = parse_context({"result": [_point(1, 1, "Graffiti", to_name="other")]})
    assert brush_control(interface, graffiti).name == "other_mask"
    wrong_image = parse_context({"result": [_point(1, 1, "Graffiti")]})
    with pytest.raises(InteractiveError, match="brush labels: Crack, Rust, Stain"):
        brush_control(interface, wrong_image)


def test_shape_hint_from_the_label_or_its_name():
    control = next(c for c in parse_label_config(CONFIG).controls if c.name == "mask")
    assert shape_hint(control, "Crack") == "ridge"
    assert shape_hint(control, "Rust") == "blob"
    with pytest.raises(InteractiveError, match="model_shape"):
        shape_hint(control, "Stain")
