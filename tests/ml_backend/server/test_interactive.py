"""Interactive (smart tool) requests through /predict, with the offline fallback and a tiny SAM."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.draw import line

from ml_backend.controls.brush import decode_mask
from ml_backend.server.app import create_app
from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.sam_source import SamSource
from model_zoo.sam.refiner import tiny_sam
from tests.images import data_url
from tests.ml_backend.conftest import make_settings

INTERACTIVE_XML = (
    Path(__file__).resolve().parents[3] / "label_config" / "interactive.xml"
).read_text()
W, H = 240, 200


def _crack() -> tuple[Image.Image, np.ndarray]:
    rng = np.random.default_rng(1)
    rgb = np.clip(150 + rng.normal(0, 6, (H, W, 3)), 0, 255)
    mask = np.zeros((H, W), dtype=bool)
    rr, cc = line(20, 20, 180, 220)
    mask[rr, cc] = True
    mask[rr, np.minimum(cc + 1, W - 1)] = True
    rgb[mask] = 70
    return Image.fromarray(rgb.astype(np.uint8)), mask


@pytest.fixture(scope="module")
def crack():
    return _crack()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("interactive"), INTERACTIVE_SOURCE="fallback")
    return create_app(settings, preload=False)


def _keypoint(x_px, y_px, label="Crack", positive=True):
    return {
        "type": "keypointlabels",
        "from_name": "click",
        "to_name": "image",
        "original_width": W,
        "original_height": H,
        "is_positive": positive,
        "value": {
            "x": 100 * x_px / W,
            "y": 100 * y_px / H,
            "width": 0.5,
            "keypointlabels": [label],
        },
    }


def _rectangle(x0, y0, x1, y1, label="Crack"):
    value = {"x": 100 * x0 / W, "y": 100 * y0 / H, "width": 100 * (x1 - x0) / W}
    value |= {"height": 100 * (y1 - y0) / H, "rotation": 0, "rectanglelabels": [label]}
    return {"type": "rectanglelabels", "from_name": "box", "to_name": "image", "value": value}


def _request(image, regions):
    return {
        "tasks": [{"id": 7, "data": {"image": data_url(image)}}],
        "label_config": INTERACTIVE_XML,
        "params": {"login": None, "password": None, "context": {"result": regions}},
    }


def _mask(response) -> np.ndarray:
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert len(results) == 1
    (item,) = results[0]["result"]
    assert item["type"] == "brushlabels" and item["from_name"] == "defect_mask"
    assert (item["original_width"], item["original_height"]) == (W, H)
    assert item["value"]["brushlabels"] == ["Crack"]
    return decode_mask(item["value"]["rle"], H, W)


def test_a_click_on_a_crack_answers_its_brush_mask(app, crack):
    image, truth = crack
    mask = _mask(app.test_client().post("/predict", json=_request(image, [_keypoint(100, 80)])))
    assert mask[truth].mean() > 0.8
    assert mask.sum() < 6 * truth.sum()


def test_clicks_and_boxes_of_the_context_together(app, crack):
    image, truth = crack
    one = _mask(app.test_client().post("/predict", json=_request(image, [_keypoint(45, 40)])))
    cut = [_keypoint(45, 40), _keypoint(157, 130, positive=False)]
    cut_mask = _mask(app.test_client().post("/predict", json=_request(image, cut)))
    assert cut_mask.sum() < 0.75 * one.sum()
    boxed = cut + [_rectangle(180, 150, 240, 200)]  # a box beyond the cut brings the end back
    boxed_mask = _mask(app.test_client().post("/predict", json=_request(image, boxed)))
    assert boxed_mask[170:, 200:].any() and not cut_mask[170:, 200:].any()


@pytest.mark.parametrize(
    "regions, message",
    [
        ([_keypoint(100, 80, label="Graffiti")], "label 'Graffiti' is not a label"),
        ([_keypoint(1.3 * W, 80)], "outside"),
        ([_rectangle(50, 50, 50, 90)], "no area"),
        ([{"type": "keypointlabels", "value": {"x": 10, "keypointlabels": ["Crack"]}}], "value.y"),
        ([{"type": "choices", "value": {"choices": ["a"]}}], "no keypointlabels"),
    ],
)
def test_bad_context_is_a_clear_400_and_the_server_stays_up(app, crack, regions, message):
    client = app.test_client()
    response = client.post("/predict", json=_request(crack[0], regions))
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert message in response.status  # Label Studio shows the reason phrase
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("context", [None, {}, {"result": []}])
def test_a_request_without_context_goes_the_usual_way(app, crack, monkeypatch, context):
    from ml_backend.serving.predictor import PredictOutcome

    state = app.extensions["fm_inspect"]
    calls = []

    def usual(tasks, label_config, project=None):
        calls.append(tasks)
        return PredictOutcome(results=[[]], model_version="v", timings={"total_s": 0.0})

    monkeypatch.setattr(state.predictor, "predict", usual)
    body = _request(crack[0], [])
    body["params"]["context"] = context
    response = app.test_client().post("/predict", json=body)
    assert response.status_code == 200 and len(calls) == 1


def test_health_says_which_source_is_in_use(app):
    status = app.test_client().get("/health").get_json()["interactive"]
    assert status["source"] in ("fallback", "superpixel-ridge")


def test_sam_source_answers_through_the_same_route(tmp_path, crack):
    app = create_app(make_settings(tmp_path, INTERACTIVE_SOURCE="fallback"), preload=False)
    state = app.extensions["fm_inspect"]
    state.interactive._source = SamSource(
        tiny_sam(image_size=64).predictor.model, name="sam-tiny", cache=ByteLRU(10**8)
    )
    client = app.test_client()
    regions = [_keypoint(100, 80), _rectangle(10, 10, 230, 190)]
    response = client.post("/predict", json=_request(crack[0], regions))
    mask = _mask(response)
    assert mask.shape == (H, W)
    assert response.get_json()["results"][0]["model_version"] == "interactive-sam-tiny"
    health = client.get("/health").get_json()["interactive"]
    assert health["source"] == "sam-tiny" and health["cache"]["entries"] == 1


def test_later_clicks_on_a_task_reuse_its_image_and_features(tmp_path, crack, monkeypatch):
    app = create_app(make_settings(tmp_path, INTERACTIVE_SOURCE="fallback"), preload=False)
    state = app.extensions["fm_inspect"]
    fetches = []
    fetch_image = state.fetcher.fetch_image
    monkeypatch.setattr(
        state.fetcher, "fetch_image", lambda *a, **k: fetches.append(a) or fetch_image(*a, **k)
    )
    client = app.test_client()
    for x, y in ((45, 40), (100, 80), (157, 130)):
        assert (
            client.post("/predict", json=_request(crack[0], [_keypoint(x, y)])).status_code == 200
        )
    assert len(fetches) == 1
    cache = client.get("/health").get_json()["interactive"]["cache"]
    assert cache["misses"] == 1 and cache["hits"] == 2
