"""Served masks after 40 corrected masks on real wall photos, against a real Label Studio 1.23.2.

The real 208 px wall tiles of ``../shared/realdata/wall/tiles`` (skipped when the folder is
missing: a user's clone has no ``../shared``) are split by photo with eval-masks' seeded split
(:func:`model_zoo.masks.data.grouped_split`, seed 0). 40 crack tiles of the training part are
submitted with their true mask as the corrected brush mask and the class, 40 ``no_defect`` tiles
with the class only; "Start Training" trains the classifier and the segmentation model with the
backend's defaults but 8 segmentation epochs (as the offline figure of
docs/segmentation.md; CPU time). The served masks are scored on 30 crack tiles of the test part (other
photos) against their true masks: the mean IoU and the share of tiles with IoU >= 0.5, next to
the CAM proposals of the same version.

The bars (segmentation serves, beats CAM by 1.5x, mean IoU > 0.3) are what this test can hold
on a loaded 2-core machine; issue 23's targets (mean IoU >= 0.55, >= 60 % accepted) are printed
next to the measured figures, and the docs quote them (docs/segmentation.md). First run
(2026-12-07, loaded 2-core machine, 513 s): segmentation 0.452 (43 % of tiles at IoU >= 0.5),
CAM 0.202 (3 %).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ml_backend.labelstudio.project import annotate_choices, client_for
from model_zoo.data.dataset import load_dataset, open_mask
from model_zoo.masks.data import grouped_split
from tests.integration.backends import start_backend
from tests.integration.mask_rounds import (
    ROUND_ON_REQUEST,
    annotate,
    mask_iou,
    predict_held,
    wait_for_round,
)
from tests.integration.projects import local_files_project

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "wall" / "tiles"
CLASSES = {"Crack": "crack", "No defect": "no_defect"}
TITLES = {v: k for k, v in CLASSES.items()}
CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    + "".join(f'<Choice value="{t}"/>' for t in CLASSES)
    + '</Choices><BrushLabels name="mask" toName="image" model_min_area="64" {attrs}>'
    + '<Label value="Crack"/></BrushLabels></View>'
)
CORRECTED, NEGATIVES, HELD_OUT = 40, 40, 30

pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"no real wall tiles at {DATA} (../shared/realdata is not here)"
)


def _choose():
    split = grouped_split(load_dataset(DATA, verify=False), 0.3, 0)
    rng = np.random.default_rng(0)

    def draw(samples, label, n):
        pool = [s for s in samples if s.label == label]
        return [pool[i] for i in sorted(rng.permutation(len(pool))[:n])]

    labeled = draw(split.train, "crack", CORRECTED) + draw(split.train, "no_defect", NEGATIVES)
    return labeled, draw(split.test, "crack", HELD_OUT)


@pytest.fixture(scope="module")
def real_round(tmp_path_factory, isolated_env, label_studio, legacy_token, local_files_root):
    backend = start_backend(
        tmp_path_factory,
        isolated_env,
        label_studio,
        legacy_token,
        **ROUND_ON_REQUEST,
        SEGMENTATION_EPOCHS="8",  # as eval-masks' corrected-40 on these tiles (CPU time)
    )
    try:
        folder = local_files_root / "realwall"  # a temporary copy: never in the repository
        folder.mkdir(exist_ok=True)
        labeled, held = _choose()
        rows = []
        for sample, is_labeled in [(s, True) for s in labeled] + [(s, False) for s in held]:
            name = f"{sample.label}-{sample.image_path.name}"
            shutil.copyfile(sample.image_path, folder / name)
            mask = open_mask(sample.mask_path) if sample.mask_path else None
            rows.append((TITLES[sample.label], name, mask, is_labeled))
        client = client_for(label_studio.url, legacy_token)
        project, ids, urls, ml_id = local_files_project(
            client, label_studio, backend.url, "real wall masks", CONFIG.format(attrs=""),
            folder, [name for _, name, _, _ in rows], regex_filter=r".*",
        )  # fmt: skip
        for task_id, (title, _, mask, is_labeled) in zip(ids, rows, strict=True):
            if is_labeled and mask is not None:
                annotate(client, task_id, title, mask)
            elif is_labeled:
                annotate_choices(client, task_id, [title], from_name="defect")
        label_studio.start_training(ml_id)
        record, health = wait_for_round(backend, project, seconds=2400)
        held_rows = [(i, u, m) for i, u, (_, _, m, lab) in zip(ids, urls, rows, strict=True)
                     if not lab]  # fmt: skip
        yield {"backend": backend, "project": project, "record": record, "health": health,
               "held": held_rows}  # fmt: skip
    finally:
        backend.stop()


def test_served_masks_after_40_corrected_real_masks(real_round):
    record = real_round["record"]
    assert record.get("state") == "succeeded", (record, real_round["backend"].log_text()[-4000:])
    source = real_round["health"]["mask_sources"][str(real_round["project"])]
    assert source["source"] == "segmentation", source
    truths = [m for _, _, m in real_round["held"]]
    figures = {}
    for name, attrs in (("segmentation", ""), ("CAM", 'model_mask_source="cam"')):
        ious = [
            mask_iou(r, t)
            for r, t in zip(
                predict_held(real_round, CONFIG.format(attrs=attrs), timeout=1200),
                truths,
                strict=True,
            )
        ]
        figures[name] = (float(np.mean(ious)), float(np.mean([v >= 0.5 for v in ious])))
    print(
        f"served on {len(truths)} real crack tiles of other photos after {CORRECTED} corrected "
        "masks: " + ", ".join(f"{k} mean IoU {v[0]:.3f}, IoU>=0.5 {v[1]:.0%}" for k, v in
                              figures.items()) + " (issue 23 target: 0.55, 60 %)"
    )  # fmt: skip
    seg, cam = figures["segmentation"][0], figures["CAM"][0]
    assert seg >= 1.5 * cam and seg > 0.3, figures
