"""A Label Studio project over image files of the session's local-files root, connected to
our backend: what the integration tests that train a round set up first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ml_backend.labelstudio.project import connect_backend, create_project, import_tasks


def local_files_project(
    client,
    label_studio,
    backend_url: str,
    title: str,
    label_config: str,
    folder: Path,
    names: Sequence[str],
    regex_filter: str = r".*\.png",
) -> tuple[int, list[int], list[str], int]:
    """``(project id, task ids, image URLs, ML backend id)``: one task per file of ``names`` in
    ``folder`` (a sub-folder of the local-files root, under a Local Storage of the project, not
    synced: the tasks are imported in ``names``' order), and the backend connected."""
    project = create_project(client, title, label_config)
    label_studio.add_local_storage(project, folder, regex_filter=regex_filter, sync=False)
    urls = [f"/data/local-files/?d={folder.name}/{name}" for name in names]
    ids = import_tasks(client, project, [{"data": {"image": url}} for url in urls])
    return project, ids, urls, connect_backend(client, project, backend_url)
