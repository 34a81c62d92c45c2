"""What a project's pre-labels stand on, in words: ``/health``, ``/versions`` and ``/setup``.

Before a project's first trained version the classifier controls serve nothing (a fresh head's
outputs are random). Then ``/setup`` answers this sentence as the model version, so that Label
Studio's model card says it ("no trained version yet: 4 of 6 labels for the first round"),
``/health`` lists it per project and ``/versions`` carries it. It is read from the model store
(the live version) and the project's job record (the last round: skipped and why, running,
failed), never from Label Studio, so ``/setup`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from ml_backend.jobs.records import JobRecords
from ml_backend.serving.versions import project_scope

UNTRAINED = "no trained version yet"


def _records(settings) -> JobRecords:
    return JobRecords(settings.model_dir / "jobs")


def untrained_message(settings, project: str | None) -> str:
    """Why nothing is pre-labeled yet for ``project``, and what it waits for."""
    record = _records(settings).read(str(project)) if project else {}
    state = record.get("state")
    if state == "running":
        return f"{UNTRAINED}: the first round is training ({record.get('stage') or 'starting'})"
    if state == "skipped":
        return f"{UNTRAINED}: {record.get('stage')}"
    if state == "failed":
        return f"{UNTRAINED}: the last round failed ({record.get('error')})"
    minimum = settings.train_min_per_class
    return (
        f"{UNTRAINED}: label {minimum} images of each of two classes for the first round "
        f"(0 of {2 * minimum} labels)"
    )


def project_status(settings, store, project: str) -> dict[str, Any]:
    """``{"state": "serving"|"untrained", "live_version", "message"}`` of one project."""
    scope = project_scope(project)
    live = store.live_version(scope)
    if live is None:
        message = untrained_message(settings, project)
        return {"state": "untrained", "live_version": None, "message": message}
    meta = store.meta(store.live_path(scope))
    stage = meta.get("stage") or "full"
    learned = (meta.get("decision") or {}).get("learned_classes")
    what = f"{stage} version trained on {meta.get('label_count', '?')} labeled images"
    if learned is not None:
        what += f"; predicts {', '.join(learned)}"
    record = _records(settings).read(str(project))
    if record.get("state") == "failed":
        what += f"; the last round failed ({record.get('error')}), so this version keeps serving"
    elif record.get("state") == "running":
        what += f"; a new round is training ({record.get('stage') or 'starting'})"
    return {"state": "serving", "live_version": live, "message": f"serving {live}: {what}"}


def known_projects(settings, store) -> list[str]:
    """Every project with a version or a job record."""
    prefix = project_scope("")
    projects = {scope.removeprefix(prefix) for scope in store.scopes()}
    projects |= {str(r.get("project")) for r in _records(settings).all() if r.get("project")}
    return sorted(projects, key=lambda p: (len(p), p))
