import numpy as np

from ml_backend.controls.brush import decode_mask
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.predictor import Predictor
from tests.images import random_image
from tests.ml_backend.conftest import make_settings


class _Images:
    def __init__(self, images):
        self.images = images

    def fetch_image(self, url, task_id=None):
        return self.images[url]

    def fetch_bytes(self, url, task_id=None):  # the predictor fetches bytes, then decodes
        return url.encode()

    def decode(self, url, data):
        return self.images[url]


def xml(model: str, brush_attrs: str = "") -> str:
    return (
        '<View><Image name="img" value="$photo"/>'
        f'<Choices name="kind" toName="img" choice="multiple" model_name="{model}">'
        '<Choice value="Crack"/><Choice value="Rust"/></Choices>'
        f'<BrushLabels name="mask" toName="img" model_name="{model}" model_min_area="0" '
        f'{brush_attrs}><Label value="Crack"/><Label value="Rust"/></BrushLabels></View>'
    )


def crack_model_of(config: str) -> str:
    return config.split('model_name="')[1].split('"')[0]


def predict(tmp_path, config, sizes, **env):
    images = {f"u{i}": random_image(w, h, seed=i) for i, (w, h) in enumerate(sizes)}
    settings = make_settings(tmp_path, SCORE_THRESHOLD="0.5", **env)
    predictor = Predictor(settings, ModelCache(settings), _Images(images))
    tasks = [{"id": i, "data": {"photo": url}} for i, url in enumerate(images)]
    calls = []
    outcome = None

    def run():
        nonlocal outcome
        outcome = predictor.predict(tasks, config)

    run()  # loads the model
    (classifier,) = predictor.models.find(crack_model_of(config))
    hook = classifier.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        run()
    finally:
        hook.remove()
    return outcome, calls, classifier, list(images.values())


def test_choices_and_masks_come_from_one_forward_pass(tmp_path, crack_model):
    outcome, calls, classifier, images = predict(tmp_path, xml(crack_model), [(120, 80), (64, 90)])
    assert len(calls) == 1  # one forward for both tags and both images
    for image, result in zip(images, outcome.results, strict=True):
        kinds = [r for r in result["result"] if r["type"] == "choices"]
        masks = [r for r in result["result"] if r["type"] == "brushlabels"]
        assert kinds[0]["value"]["choices"] == ["Crack"]
        assert masks and all(m["value"]["brushlabels"] == ["Crack"] for m in masks)
        for m in masks:
            assert decode_mask(m["value"]["rle"], image.height, image.width).any()
    bare = classifier.predict_proba(images)
    assert np.all(bare[:, 0] > 0.5) and np.all(bare[:, 1:] < 0.5)


def test_masks_at_another_input_size_leave_choices_their_own_pass(tmp_path, crack_model):
    config = xml(crack_model, 'model_cam_input_size="96"')
    outcome, calls, _, _ = predict(tmp_path, config, [(120, 80)])
    assert len(calls) == 2  # Choices at the model's size, masks at 96 px
    types = {r["type"] for r in outcome.results[0]["result"]}
    assert types == {"choices", "brushlabels"}
