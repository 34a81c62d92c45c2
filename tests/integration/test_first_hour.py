"""A new project's first hour against a real Label Studio 1.23.2, and what its labeling page shows.

The walk of ``python -m ml_backend first-hour`` on synthetic crack / no-defect photos with the
default model (the ImageNet-pretrained efficientnet-lite0): before any label nothing is
pre-labeled and Label Studio's model card says why; five labels per class later a trained version
serves within two minutes, names only learned classes, never "No defect" beside a defect, and is
right on most other tasks. Headless Chromium (Playwright on Debian's chromium) opens the labeling
page at both moments: empty of noise before, our choice, regions (labels and scores) and mask
pixels after. The screenshots land in ``build/screenshots/`` (``make screenshots`` copies them
into the docs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from ml_backend.controls.brush import decode_mask
from ml_backend.tools.first_hour import cold_stage, labeled_stage, start_walk
from model_zoo.data.synth import generate_dataset
from tests.integration.browser import mask_agreement, open_task

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"
TASKS, PER_CLASS = 36, 5


@pytest.fixture(scope="module")
def walk(tmp_path_factory, label_studio, isolated_env):
    data = tmp_path_factory.mktemp("first-hour-data")
    generate_dataset(data, n=TASKS + 4, classes=["crack", "no_defect"], size=320, seed=5)
    root = tmp_path_factory.mktemp("first-hour")
    env = {**isolated_env, "CLASSIFIER_MODEL": "efficientnet-lite0", "THREADS": "4"}
    walk = start_walk(root, data, TASKS, seed=1, backend_env=env, ls=label_studio)
    yield walk
    walk.stop()


@pytest.fixture(scope="module")
def cold(walk):
    stage = cold_stage(walk)
    task = next(iter(walk.tasks))
    view = open_task(walk.ls, walk.project, task, SCREENSHOTS / "first-hour-cold.png")
    ml = walk.client.ml.list(project=walk.project)[0]
    return stage, view, ml


@pytest.fixture(scope="module")
def first_version(walk, cold):
    return labeled_stage(walk, PER_CLASS, seed=1, timeout=600)


def test_before_any_label_nothing_is_made_up(cold, walk):
    stage, view, ml = cold
    assert stage.with_prediction == stage.with_choices == stage.regions == 0
    assert view.checked == [] and view.regions == []
    assert not view.painted.any(), "brush pixels on the page before any label"
    assert all("no trained version yet" not in tab for tab in view.tabs)
    # Label Studio's model card and /health say why, in words
    assert ml.model_version.startswith("no trained version yet: label 3 images of each of two")
    health = requests.get(f"{walk.backend.url}/health", timeout=10).json()
    assert health["project_states"] == {} or all(
        s["state"] == "untrained" for s in health["project_states"].values()
    )


def test_five_labels_per_class_serve_a_useful_version_within_two_minutes(first_version):
    stage = first_version
    assert stage.version is not None and stage.seconds_to_version <= 120, stage
    others = stage.tasks - stage.labels
    assert stage.with_prediction == others, stage
    assert stage.unlabeled_class_named == 0, stage.choice_counts
    assert stage.defect_and_no_defect == 0, stage.choice_counts
    assert stage.top_choice_right >= 0.8, stage


def _prediction_with_masks(walk, version):
    stored = [p for p in walk.stored() if p["model_version"] == version]
    for prediction in stored:
        task = walk.tasks[prediction["task"]]
        brush = [r for r in prediction["result"] if r["type"] == "brushlabels"]
        choices = [r for r in prediction["result"] if r["type"] == "choices"]
        if not task.labeled and brush and choices and task.label == "Crack":
            return prediction, choices[0], brush
    pytest.fail(f"no unlabeled crack task got choices and masks from {version}")


def test_the_labeling_page_draws_our_prediction(walk, first_version):
    prediction, choice, brush = _prediction_with_masks(walk, first_version.version)
    view = open_task(
        walk.ls, walk.project, prediction["task"], SCREENSHOTS / "first-hour-first-version.png"
    )
    assert view.checked == choice["value"]["choices"]
    expected = sorted((r["value"]["brushlabels"][0], f"{r['score']:.2f}") for r in brush)
    assert sorted(view.regions) == expected
    assert any(tab.startswith(first_version.version) for tab in view.tabs), view.tabs
    height, width = brush[0]["original_height"], brush[0]["original_width"]
    ours = np.zeros((height, width), dtype=bool)
    for region in brush:
        ours |= decode_mask(region["value"]["rle"], height, width)
    assert abs(view.image_size[0] / view.image_size[1] - width / height) < 0.02
    precision, recall = mask_agreement(view.painted, ours)
    assert precision >= 0.95 and recall >= 0.95, (
        f"the page paints {precision:.2f} of its brush pixels on our mask and covers {recall:.2f} "
        "of it (3 px tolerance)"
    )
    (SCREENSHOTS / "first-hour.json").write_text(
        json.dumps({"version": first_version.version, "regions": view.regions}, indent=2)
    )
