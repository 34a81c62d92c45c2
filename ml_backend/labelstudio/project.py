"""Driving a Label Studio project through the SDK: create it, import tasks, connect the backend,
retrieve predictions. Used by ``make demo`` and the integration tests; handy in notebooks too.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterable, Sequence
from pathlib import Path

import requests

from ml_backend.controls.choices import choices_result
from ml_backend.labelstudio.client import LabelStudio, make_client

log = logging.getLogger(__name__)

#: the client's wait for one "Retrieve Predictions" action (Label Studio waits up to 100 s
#: for the backend, plus its own work on the selected tasks)
RETRIEVE_SECONDS = 300


def client_for(url: str, api_key: str) -> LabelStudio:
    """An SDK client; ``api_key`` may be a legacy token or a personal access token."""
    return make_client(url.rstrip("/"), api_key)


def create_project(client: LabelStudio, title: str, label_config: str, **fields) -> int:
    project = client.projects.create(title=title, label_config=label_config, **fields)
    return int(project.id)


def import_tasks(client: LabelStudio, project_id: int, tasks: Sequence[dict]) -> list[int]:
    response = client.projects.import_tasks(
        id=project_id, request=list(tasks), return_task_ids=True
    )
    ids = list(getattr(response, "task_ids", None) or [])
    if len(ids) != len(tasks):
        raise RuntimeError(f"Label Studio created {len(ids)} of {len(tasks)} tasks")
    return ids


#: files per import request (Django refuses more than DATA_UPLOAD_MAX_NUMBER_FILES = 100)
UPLOAD_BATCH = 50


def upload_images(
    url: str, headers: dict[str, str], project_id: int, paths: Iterable[Path]
) -> list[int]:
    """Upload image files (multipart import, ``UPLOAD_BATCH`` files a request): tasks with
    ``/data/upload/<project>/<file>`` URLs, in the order of ``paths``."""
    paths = list(paths)
    ids: list[int] = []
    for start in range(0, len(paths), UPLOAD_BATCH):
        batch = paths[start : start + UPLOAD_BATCH]
        # one form field per file: Label Studio reads request.FILES.items(), one file per field
        files = [
            (f"file{i}", (p.name, p.read_bytes(), mimetypes.guess_type(p.name)[0] or "image/png"))
            for i, p in enumerate(batch)
        ]
        r = requests.post(
            f"{url.rstrip('/')}/api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            headers=headers,
            files=files,
            timeout=120,
        )
        r.raise_for_status()
        ids += list(r.json().get("task_ids", []))
    return ids


def connect_backend(
    client: LabelStudio,
    project_id: int,
    backend_url: str,
    *,
    title: str = "fm-inspect",
    basic_auth: tuple[str, str] | None = None,
    interactive: bool = False,
) -> int:
    """Add the backend under Project → Settings → Model. Label Studio calls /health and /setup.

    ``interactive``: "Interactive preannotations" on (smart tools send their clicks to us)."""
    extra = {}
    if basic_auth:
        extra = {
            "auth_method": "BASIC_AUTH",
            "basic_auth_user": basic_auth[0],
            "basic_auth_pass": basic_auth[1],
        }
    backend = client.ml.create(
        project=project_id,
        url=backend_url,
        title=title,
        is_interactive=interactive,
        extra_params="{}",
        **extra,
    )
    return int(backend.id)


def retrieve_predictions(
    client: LabelStudio, project_id: int, task_ids: Sequence[int] | None = None
) -> None:
    """The Data Manager action "Retrieve Predictions" (synchronous in Community edition).

    Label Studio sends every selected task in one /predict and gives the backend 100 s
    (``ML_TIMEOUT_PREDICT``); callers with many tasks select them in chunks
    (:func:`retrieve_predictions_in_chunks`)."""
    selected = (
        {"all": False, "included": list(task_ids)} if task_ids else {"all": True, "excluded": []}
    )
    client.actions.create(
        id="retrieve_tasks_predictions",
        project=project_id,
        selected_items=selected,
        request_options={"timeout_in_seconds": RETRIEVE_SECONDS},
    )


def retrieve_predictions_in_chunks(
    client: LabelStudio, project_id: int, task_ids: Sequence[int], chunk: int = 16
) -> None:
    """ "Retrieve Predictions" for ``task_ids``, ``chunk`` tasks per action, with a progress bar:
    each /predict Label Studio sends then stays well inside its 100 s timeout on a CPU."""
    from tqdm.auto import tqdm

    ids, chunk = list(task_ids), max(1, int(chunk))
    with tqdm(total=len(ids), desc="predictions", unit="task") as progress:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            retrieve_predictions(client, project_id, part)
            progress.update(len(part))


def predictions(client: LabelStudio, project_id: int) -> list[dict]:
    return [
        p.model_dump() if hasattr(p, "model_dump") else dict(p)
        for p in client.predictions.list(project=project_id)
    ]


def annotate_choices(
    client: LabelStudio,
    task_id: int,
    choices: Sequence[str],
    *,
    from_name: str,
    to_name: str = "image",
) -> int:
    """Submit an annotation with one Choices result (as an annotator would); fires the webhooks."""
    annotation = client.annotations.create(
        id=task_id,
        result=[choices_result(from_name, to_name, list(choices))],
        was_cancelled=False,
        lead_time=1.0,
    )
    return int(annotation.id)
