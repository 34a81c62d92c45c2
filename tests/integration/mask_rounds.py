"""What the mask integration tests share: submitting a corrected mask, waiting for the round,
asking the backend for the held-out tasks' masks and scoring them against the truth."""

from __future__ import annotations

import time

import numpy as np
import requests

from ml_backend.controls.brush import decode_mask, encode_mask

# the backend settings of a mask round: it trains only on "Start Training", serves every region
# whatever its score, and does not re-predict the project afterwards (the tests ask themselves)
ROUND_ON_REQUEST = {
    "TRAIN_AFTER_ANNOTATIONS": "1000",
    "TRAIN_QUIET_SECONDS": "0",
    "SCORE_THRESHOLD": "0.0",
    "REPREDICT_AFTER_TRAINING": "false",
}


def annotate(client, task_id, title, mask):
    h, w = mask.shape
    client.annotations.create(
        id=task_id,
        result=[
            {
                "from_name": "defect",
                "to_name": "image",
                "type": "choices",
                "value": {"choices": [title]},
            },
            {
                "from_name": "mask",
                "to_name": "image",
                "type": "brushlabels",
                "original_width": w,
                "original_height": h,
                "image_rotation": 0,
                "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": [title]},
            },
        ],
        was_cancelled=False,
        lead_time=1.0,
    )


def wait_for_round(backend, project, seconds=900):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = requests.get(f"{backend.url}/health", timeout=5).json()
        record = next((r for r in health["training"] if str(r.get("project")) == str(project)), {})
        if record.get("state") in {"succeeded", "failed", "skipped"}:
            return record, health
        time.sleep(2)
    return {}, {}


def mask_iou(items, truth):
    h, w = truth.shape
    pred = np.zeros_like(truth)
    for item in items:
        if item.get("type") == "brushlabels":
            pred |= decode_mask(item["value"]["rle"], h, w)
    union = (pred | truth).sum()
    return (pred & truth).sum() / union if union else 1.0


def predict_held(round_, label_config: str, timeout: float = 600) -> list[list]:
    """The backend's results for the round's held-out tasks under ``label_config``."""
    tasks = [{"id": i, "data": {"image": u}} for i, u, _ in round_["held"]]
    body = {"tasks": tasks, "project": f"{round_['project']}.0", "label_config": label_config}
    answer = requests.post(f"{round_['backend'].url}/predict", json=body, timeout=timeout)
    assert answer.status_code == 200, answer.text
    return [r["result"] for r in answer.json()["results"]]
