"""The first-hour walk's scoring of stored predictions (the walk itself: tests/integration)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ml_backend.controls.brush import brush_value
from ml_backend.tools.first_hour import Stage, Task, choice_for_class, config_choices, evaluate
from tests.ml_backend.conftest import DEFECTS_XML


def choice(*names):
    return {"type": "choices", "value": {"choices": list(names)}}


def brush(mask):
    h, w = mask.shape
    value = brush_value(mask, "Crack")
    return {"type": "brushlabels", "value": value, "original_height": h, "original_width": w}


def test_dataset_classes_find_their_choice():
    choices = config_choices(DEFECTS_XML)
    assert choice_for_class("crack", choices) == "Crack"
    assert choice_for_class("no_defect", choices) == "No defect"
    assert choice_for_class("net-crack", choices) == "Net crack"


def test_a_stage_counts_what_an_annotator_would_have_to_undo(tmp_path):
    (tmp_path / "images" / "crack").mkdir(parents=True)
    (tmp_path / "masks" / "crack").mkdir(parents=True)
    truth = np.zeros((8, 8), dtype=bool)
    truth[2:6, 2:6] = True
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "masks" / "crack" / "a.png")
    image = tmp_path / "images" / "crack" / "a.jpg"
    tasks = {
        1: Task(1, "Crack", labeled=True),
        2: Task(2, "No defect", labeled=True),
        3: Task(3, "Crack", path=image),
        4: Task(4, "No defect"),
        5: Task(5, "Crack"),
        6: Task(6, "No defect"),
    }
    half = np.zeros((8, 8), dtype=bool)
    half[2:6, 2:4] = True
    stored = [
        {"task": 3, "model_version": "v1", "result": [choice("Crack"), brush(half)]},
        {"task": 4, "model_version": "v1", "result": [choice("No defect"), brush(half)]},
        {"task": 5, "model_version": "v1", "result": [choice("Rust")]},  # nobody labeled rust
        {"task": 6, "model_version": "v1", "result": [choice("Crack", "No defect")]},
        {"task": 6, "model_version": "v0", "result": [choice("No defect")]},  # another version
    ]
    stage = evaluate(Stage("x", labels=2, tasks=6), stored, tasks, version="v1")
    assert stage.with_prediction == stage.with_choices == 4
    assert stage.with_regions == 2 and stage.regions == 2
    assert stage.defect_and_no_defect == 1 and stage.unlabeled_class_named == 1
    assert stage.no_defect_with_regions == 1
    assert stage.top_choice_right == 0.5  # tasks 3 and 4 of the four others
    assert stage.majority_baseline == 0.5
    assert stage.mask_iou == 0.5 and stage.mask_accepted == 1.0
    assert stage.choice_counts == {"Crack": 2, "No defect": 2, "Rust": 1}
