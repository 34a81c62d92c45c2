"""Queue ordering against a real Label Studio 1.23.2 (protocol §5.7).

A project with labeled and unlabeled synthetic images; ``python -m ml_backend reorder`` (its
``main``) scores the unlabeled tasks with the default strategy (``minority-split``) on the default
backbone (efficientnet-lite0) and applies the round. Then an annotator's
``GET /api/projects/{id}/next/`` must return the top-ranked task (lowest ``queue-order-1`` score), a round
that Label Studio only half accepts must leave the previous round in force, and the first 20
tasks an annotator is served must hold at least twice the pool's minority share.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import requests
from PIL import Image

from ml_backend import __main__ as cli
from ml_backend.labelstudio.project import (
    annotate_choices,
    client_for,
    create_project,
    import_tasks,
)
from ml_backend.queue import rounds, scoring
from model_zoo.data.synth import render_sample

CLASSES = {
    "No defect": ("no_defect", 10, 40),
    "Rust": ("rust", 10, 40),
    "Exposed rebar": ("exposed_rebar", 3, 8),
}
CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    + "".join(f'<Choice value="{title}"/>' for title in CLASSES)
    + "</Choices></View>"
)


def annotator_next(label_studio, email: str, project: int) -> dict:
    label_studio.create_user(email, "Annotator-pass-123")
    session = dataclasses.replace(
        label_studio, username=email, password="Annotator-pass-123"
    ).login()
    r = session.get(f"{label_studio.url}/api/projects/{project}/next/", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def project(tmp_path_factory, label_studio, legacy_token, local_files_root, trained_lite0):
    folder = local_files_root / "queue"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(5)
    rows = []
    for title, (cls, labeled, unlabeled) in CLASSES.items():
        for i in range(labeled + unlabeled):
            image, _, _ = render_sample(cls, rng, size=64)
            name = f"{cls}-{i}.png"
            Image.fromarray(image).save(folder / name)
            rows.append((title, name, i < labeled))
    client = client_for(label_studio.url, legacy_token)
    pid = create_project(client, "queue-order", CONFIG)
    label_studio.add_local_storage(pid, folder, regex_filter=r".*\.png", sync=False)
    ids = import_tasks(
        client, pid, [{"data": {"image": f"/data/local-files/?d=queue/{n}"}} for _, n, _ in rows]
    )
    truth = {}
    for task_id, (title, _, labeled) in zip(ids, rows, strict=True):
        truth[task_id] = (title, labeled)
        if labeled:
            annotate_choices(client, task_id, [title], from_name="defect")
    work = tmp_path_factory.mktemp("queue-backend")
    env = {
        "LABEL_STUDIO_URL": label_studio.url,
        "LABEL_STUDIO_API_KEY": legacy_token,
        "MODEL_DIR": str(work / "models"),
        # a trained head, as after a first round (an untrained one names no class in the round)
        "CLASSIFIER_MODEL": trained_lite0,
        "LOCAL_FILES_DOCUMENT_ROOT": str(local_files_root),
        "MINORITY_CLASSES": "Exposed rebar",
        "ACQUISITION_BATCH_DIVERSITY": "5",
        "LS_RETRIES": "2",
        "LS_RETRY_SECONDS": "0.5",
    }
    return {"client": client, "id": pid, "truth": truth, "env": env, "work": work}


def reorder(monkeypatch, project, capsys) -> tuple[int, str]:
    monkeypatch.delenv("ACQUISITION_STRATEGY", raising=False)  # the default unless env says
    for key, value in project["env"].items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = cli.main(["reorder", "--project", str(project["id"])])
    return code, capsys.readouterr()


def al_predictions(label_studio, project: int, version: str) -> dict[int, float]:
    r = requests.get(
        f"{label_studio.url}/api/predictions/",
        params={"project": project},
        headers=label_studio.auth_headers(),
        timeout=60,
    )
    r.raise_for_status()
    return {p["task"]: p["score"] for p in r.json() if p["model_version"] == version}


def project_state(label_studio, project: int) -> dict:
    r = requests.get(
        f"{label_studio.url}/api/projects/{project}",
        headers=label_studio.auth_headers(),
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


def test_a_round_makes_next_serve_the_top_ranked_task(monkeypatch, capsys, project, label_studio):
    code, out = reorder(monkeypatch, project, capsys)
    assert code == 0, out
    state = project_state(label_studio, project["id"])
    assert state["model_version"] == "queue-order-1" and state["sampling"] == "Uncertainty sampling"
    unlabeled = {t for t, (_, labeled) in project["truth"].items() if not labeled}
    scores = al_predictions(label_studio, project["id"], "queue-order-1")
    assert set(scores) == unlabeled, (
        "one queue-order-1 prediction per unlabeled task, none on labeled ones"
    )
    assert len(set(scores.values())) == len(scores) and None not in scores.values()
    top = min(scores, key=scores.get)
    served = annotator_next(label_studio, "annotator1@example.com", project["id"])
    assert served["id"] == top
    assert "Active learning" in served.get("queue", ""), served.get("queue")
    views = requests.get(
        f"{label_studio.url}/api/dm/views/",
        params={"project": project["id"]},
        headers=label_studio.auth_headers(),
        timeout=30,
    ).json()
    view = next(v for v in views if v["data"].get("title") == rounds.VIEW_TITLE)
    assert (view.get("ordering") or view["data"].get("ordering")) == ["tasks:predictions_score"], (
        view
    )
    # the split gives likely minority (exposed rebar) places at the front
    ranked = sorted(scores, key=scores.get)
    minority = {t for t in unlabeled if project["truth"][t][0] == "Exposed rebar"}
    front = sum(t in minority for t in ranked[: len(minority)])
    assert front >= 1, f"no exposed-rebar task in the first {len(minority)} of the queue"


def test_a_half_applied_round_keeps_the_previous_order(monkeypatch, capsys, project, label_studio):
    before = al_predictions(label_studio, project["id"], "queue-order-1")
    assert before, "needs the first round"
    real_results = scoring._results

    def one_invalid(handler, classifier, probs):
        results = real_results(handler, classifier, probs)
        results[-1] = [{**results[-1][0], "value": {"choices": ["Not a choice"]}}]  # LS drops it
        return results

    monkeypatch.setattr(scoring, "_results", one_invalid)
    code, out = reorder(monkeypatch, project, capsys)
    assert code == 1 and "stored" in out.err, out
    state = project_state(label_studio, project["id"])
    assert state["model_version"] == "queue-order-1"
    assert al_predictions(label_studio, project["id"], "queue-order-2") == {}, (
        "partial round removed"
    )
    assert al_predictions(label_studio, project["id"], "queue-order-1") == before
    # annotator1 holds a lock on the top task, so a new annotator gets the second in queue-order-1 order
    second = sorted(before, key=before.get)[1]
    assert annotator_next(label_studio, "annotator2@example.com", project["id"])["id"] == second


def test_the_next_round_replaces_the_previous_one(monkeypatch, capsys, project, label_studio):
    project["env"]["ACQUISITION_STRATEGY"] = "random"
    code, out = reorder(monkeypatch, project, capsys)
    assert code == 0, out
    state = project_state(label_studio, project["id"])
    assert state["model_version"] == "queue-order-2"  # the failed queue-order-2 left nothing behind
    versions = rounds.model_versions(project["client"], project["id"])
    assert not [v for v in versions if v.startswith("queue-order-") and v != "queue-order-2"], (
        versions
    )
    assert len(al_predictions(label_studio, project["id"], "queue-order-2")) == len(
        [t for t, (_, labeled) in project["truth"].items() if not labeled]
    )
    summary = json.loads(out.out)
    assert summary["strategy"] == "random" and summary["deleted_versions"] == ["queue-order-1"]
    assert summary["features_computed"] == 0, "same model version: every feature from the cache"


def test_the_first_20_tasks_served_hold_twice_the_minority_share(
    monkeypatch, capsys, project, label_studio
):
    project["env"].pop("ACQUISITION_STRATEGY", None)  # back to the default after the random round
    code, out = reorder(monkeypatch, project, capsys)
    assert code == 0, out
    assert json.loads(out.out)["strategy"] == "minority-split"
    truth = project["truth"]
    pool = [t for t, (_, labeled) in truth.items() if not labeled]
    share = sum(truth[t][0] == "Exposed rebar" for t in pool) / len(pool)
    label_studio.create_user("annotator3@example.com", "Annotator-pass-123")
    session = dataclasses.replace(
        label_studio, username="annotator3@example.com", password="Annotator-pass-123"
    ).login()
    served = []
    for _ in range(20):  # each served task is labeled, so /next/ moves on to the next
        r = session.get(f"{label_studio.url}/api/projects/{project['id']}/next/", timeout=60)
        assert r.status_code == 200, r.text
        task_id = r.json()["id"]
        assert task_id not in served
        served.append(task_id)
        annotate_choices(project["client"], task_id, [truth[task_id][0]], from_name="defect")
    found = sum(truth[t][0] == "Exposed rebar" for t in served)
    print(
        f"first 20 served: {found} exposed rebar; pool share {share:.3f} ({share * 20:.1f} in 20)"
    )
    assert found >= 2 * share * 20, (
        f"{found} exposed rebar in the first 20 served; the pool's share is {share:.3f}"
    )
