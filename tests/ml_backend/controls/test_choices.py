import numpy as np
import pytest
import torch

from ml_backend.controls.label_config import LabelConfigError, parse_label_config
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.predictor import Predictor
from tests.images import random_image
from tests.ml_backend.conftest import make_settings


class _NoFetch:
    def fetch_image(self, url, task_id=None):  # the predictor is fed data below, not URLs
        raise AssertionError("not used")


def config(choices: str, attrs: str = "") -> str:
    return (
        '<View><Image name="img" value="$photo"/>'
        f'<Choices name="cls" toName="img" {attrs}>{choices}</Choices></View>'
    )


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A saved model whose head knows the classes crack / no_defect / rust."""
    from model_zoo.classifier.model import load_classifier

    model = load_classifier("tiny-vit", ["crack", "no_defect", "rust"], device="cpu")
    return str(model.save(tmp_path_factory.mktemp("m") / "trained", version="trained-1"))


def handler_for(tmp_path, xml, **env):
    predictor = Predictor(
        make_settings(tmp_path, **env), ModelCache(make_settings(tmp_path, **env)), _NoFetch()
    )
    _, handlers = predictor.handlers(xml)
    assert len(handlers) == 1
    return handlers[0]


def test_labels_map_by_name_and_predicted_values(tmp_path, trained_dir):
    xml = config(
        '<Choice value="Crack"/><Choice value="Clean" predicted_values="no_defect"/><Choice value="Moss"/>',
        f'model_name="{trained_dir}"',
    )
    handler = handler_for(tmp_path, xml)
    handler.check()
    assert handler.label_map(handler.classifier.classes) == {"Crack": [0], "Clean": [1]}
    regions = handler.predict([random_image(seed=i) for i in range(3)])
    for found in regions:
        assert len(found) == 1
        item = found[0].item
        assert item["from_name"] == "cls" and item["to_name"] == "img" and item["type"] == "choices"
        assert item["value"]["choices"][0] in {"Crack", "Clean"}
        assert 0.0 <= item["score"] <= 1.0


def test_single_choice_score_is_the_mapped_probability(tmp_path, trained_dir):
    xml = config(
        '<Choice value="Crack"/><Choice value="No defect"/><Choice value="Rust"/>',
        f'model_name="{trained_dir}"',
    )
    handler = handler_for(tmp_path, xml)
    image = random_image(seed=11)
    probs = handler.classifier.predict_proba([image])[0]
    (region,) = handler.predict([image])[0]
    best = int(np.argmax(probs))
    assert region.item["value"]["choices"] == [["Crack", "No defect", "Rust"][best]]
    assert region.score == pytest.approx(float(probs[best]), abs=1e-5)


@pytest.fixture(scope="module")
def multi_label_dir(tmp_path_factory):
    """A saved multi-label (sigmoid) model for crack / no_defect / rust."""
    from model_zoo.classifier.model import load_classifier

    model = load_classifier(
        "tiny-vit", ["crack", "no_defect", "rust"], device="cpu", multi_label=True
    )
    return str(model.save(tmp_path_factory.mktemp("m") / "multi", version="multi-1"))


def test_multiple_choice_threshold(tmp_path, multi_label_dir):
    xml = config(
        '<Choice value="Crack"/><Choice value="Rust"/>',
        f'model_name="{multi_label_dir}" choice="multiple" model_score_threshold="0.0"',
    )
    (region,) = handler_for(tmp_path, xml).predict([random_image(seed=2)])[0]
    assert sorted(region.item["value"]["choices"]) == ["Crack", "Rust"]
    xml_high = xml.replace('model_score_threshold="0.0"', 'model_score_threshold="1.0"')
    assert handler_for(tmp_path, xml_high).predict([random_image(seed=2)]) == [[]]


def test_no_defect_never_stands_beside_a_defect(tmp_path, multi_label_dir):
    xml = config(
        '<Choice value="Crack"/><Choice value="No defect"/><Choice value="Rust"/>',
        f'model_name="{multi_label_dir}" choice="multiple" model_score_threshold="0.0"',
    )
    handler = handler_for(tmp_path, xml)
    images = [random_image(seed=s) for s in range(6)]
    probs = handler.classifier.predict_proba(images)
    for row, (region,) in zip(probs, handler.predict(images), strict=True):
        chosen = region.item["value"]["choices"]
        if int(np.argmax(row)) == 1:  # no_defect is the most probable: it stands alone
            assert chosen == ["No defect"]
        else:
            assert "No defect" not in chosen and len(chosen) == 2


def test_a_class_nobody_labeled_is_never_chosen(tmp_path, tmp_path_factory):
    from model_zoo.classifier.decision import decision_record
    from model_zoo.classifier.model import load_classifier

    model = load_classifier("tiny-vit", ["crack", "no_defect", "rust"], device="cpu")
    with torch.no_grad():  # the head would call everything rust, a class without labels
        model.model.classifier.bias.copy_(torch.tensor([0.0, -1.0, 8.0]))
    saved = model.save(
        tmp_path_factory.mktemp("m") / "two", version="two-1",
        decision=decision_record(model.classes, [4, 4, 0]),
    )  # fmt: skip
    xml = config(
        '<Choice value="Crack"/><Choice value="No defect"/><Choice value="Rust"/>',
        f'model_name="{saved}"',
    )
    for (region,) in handler_for(tmp_path, xml).predict([random_image(seed=s) for s in range(4)]):
        assert region.item["value"]["choices"] == ["Crack"]


def test_labels_matching_no_class_are_refused_with_both_sets(tmp_path, trained_dir):
    xml = config('<Choice value="Cat"/><Choice value="Dog"/>', f'model_name="{trained_dir}"')
    with pytest.raises(LabelConfigError) as err:
        handler_for(tmp_path, xml).check()
    message = str(err.value)
    assert "Cat" in message and "crack" in message and "predicted_values" in message


def test_bad_threshold_attribute(tmp_path):
    xml = config('<Choice value="A"/>', 'model_score_threshold="high"')
    with pytest.raises(LabelConfigError, match="model_score_threshold"):
        handler_for(tmp_path, xml).check()


def test_untrained_backbone_gets_a_head_for_the_config_labels(tmp_path):
    handler = handler_for(tmp_path, config('<Choice value="A"/><Choice value="B"/>'))
    handler.check()
    assert handler.classifier.classes == ["A", "B"] and not handler.classifier.head_trained


def test_model_skip_and_unserved_configs(tmp_path):
    settings = make_settings(tmp_path)
    predictor = Predictor(settings, ModelCache(settings), _NoFetch())
    with pytest.raises(LabelConfigError, match="Image"):
        predictor.handlers(
            '<View><Text name="t" value="$t"/><Choices name="c" toName="t"><Choice value="a"/></Choices></View>'
        )
    with pytest.raises(LabelConfigError, match="nothing in this label config"):
        predictor.handlers(config('<Choice value="A"/>', 'model_skip="true"'))
    with pytest.raises(LabelConfigError, match="not valid XML"):
        parse_label_config("<View><Image name='x' value='$x'>")
    with pytest.raises(LabelConfigError, match="no label config"):
        parse_label_config("")


def test_zero_shot_start_before_the_first_trained_version(tmp_path, tmp_path_factory):
    from tests.model_zoo.test_zeroshot import save_tiny_clip

    clip = save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")
    xml = config('<Choice value="Crack"/><Choice value="No defect" predicted_values="no_defect"/>')
    handler = handler_for(tmp_path, xml, ZERO_SHOT_MODEL=clip)
    assert not handler.serves(handler.classifier) and handler.ready()
    assert handler.model_version.startswith("zero-shot-tiny-clip-")
    for (region,) in handler.predict([random_image(seed=s) for s in range(3)]):
        (choice,) = region.item["value"]["choices"]
        assert choice in {"Crack", "No defect"} and 0.0 < region.score <= 1.0
    # without it: nothing, and not ready
    plain = handler_for(tmp_path, xml)
    assert not plain.ready() and plain.predict([random_image(seed=1)]) == [[]]
