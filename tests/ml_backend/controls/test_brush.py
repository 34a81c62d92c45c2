import numpy as np
import pytest
from label_studio_sdk.label_interface import LabelInterface

from ml_backend.controls.base import ControlHandler
from ml_backend.controls.brush import brush_region, decode_mask, encode_mask

CONFIG = """<View><Image name="image" value="$image"/>
<BrushLabels name="mask" toName="image"><Label value="Crack"/></BrushLabels></View>"""


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (240, 320), (301, 17)])
def test_rle_round_trip_at_original_size(shape):
    rng = np.random.default_rng(sum(shape))
    mask = rng.random(shape) > 0.7
    mask[0, 0] = True
    rle = encode_mask(mask)
    assert all(0 <= b <= 255 for b in rle)
    np.testing.assert_array_equal(decode_mask(rle, *shape), mask)


def test_region_is_valid_for_the_label_config():
    interface = LabelInterface(CONFIG)
    control = interface.get_control("mask")
    handler = ControlHandler(control, interface.get_object("image"), settings=None, models=None)
    handler.result_type = "brushlabels"
    mask = np.zeros((50, 80), dtype=bool)
    mask[10:20, 5:60] = True
    region = brush_region(handler, mask, "Crack", 0.8)
    item = region.item
    assert item["original_width"] == 80 and item["original_height"] == 50
    assert item["value"]["brushlabels"] == ["Crack"] and item["value"]["format"] == "rle"
    assert interface.validate_region(item, return_errors=True) == []
    np.testing.assert_array_equal(decode_mask(item["value"]["rle"], 50, 80), mask)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        encode_mask(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="expected"):
        decode_mask(encode_mask(np.ones((4, 4))), 5, 5)
