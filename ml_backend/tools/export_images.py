"""``python -m ml_backend export-images --project ID --out DIR``: a project's images to a folder.

Downloads the image of every task of a Label Studio project (any URL kind the backend reads:
uploads, local files, cloud storage, http(s) on allowed hosts, data: URLs) with the backend's
own :class:`~ml_backend.images.fetcher.ImageFetcher`, using ``LABEL_STUDIO_URL`` and
``LABEL_STUDIO_API_KEY`` from :mod:`ml_backend.settings`. The folder then feeds
``python -m model_zoo pretrain --images DIR`` (model_zoo itself never talks to Label Studio).

Files are named ``task-<id>.<ext>`` (the original format); images already there are skipped,
so a second run only fetches new tasks. A task whose image cannot be fetched is counted and
reported, never fatal.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from model_zoo.storage.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp"}


def image_keys(label_config: str | None) -> list[str]:
    """The task-data keys of the config's ``<Image>`` tags (``value="$image"`` -> ``image``)."""
    if not label_config:
        return []
    from ml_backend.controls.label_config import parse_label_config

    keys = []
    try:
        interface = parse_label_config(label_config)
    except Exception as exc:  # noqa: BLE001 - fall back to guessing the key
        log.warning("cannot parse the project's label config: %s", exc)
        return []
    for obj in getattr(interface, "objects", []) or []:
        if getattr(obj, "tag", "").lower() == "image":
            value = str(getattr(obj, "value", "") or "").lstrip("$")
            if value and value not in keys:
                keys.append(value)
    return keys


def _task_fields(task: Any) -> tuple[int | None, dict]:
    if isinstance(task, dict):
        return task.get("id"), task.get("data") or {}
    return getattr(task, "id", None), getattr(task, "data", None) or {}


def export_images(
    client: Any,
    fetcher: Any,
    project: int,
    out_dir: str | Path,
    *,
    keys: Iterable[str] = (),
    progress: bool = True,
) -> dict[str, int]:
    """Fetch every task image of ``project`` into ``out_dir``; returns counts
    (written, existing, failed, without_image)."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = list(keys)
    counts = {"written": 0, "existing": 0, "failed": 0, "without_image": 0}
    tasks = client.tasks.list(project=int(project), page_size=100)
    for task in tqdm(tasks, desc="export images", unit="task", disable=not progress):
        task_id, data = _task_fields(task)
        urls = [data[k] for k in keys if isinstance(data.get(k), str)] or [
            v for k, v in data.items() if k == "image" and isinstance(v, str)
        ]
        if not urls:
            counts["without_image"] += 1
            continue
        for n, url in enumerate(urls):
            stem = f"task-{task_id}" + (f"-{n}" if n else "")
            if any(out.glob(f"{stem}.*")):
                counts["existing"] += 1
                continue
            try:
                data_bytes = fetcher.fetch_bytes(url, task_id=task_id)
                with Image.open(io.BytesIO(data_bytes)) as im:
                    im.verify()
                    fmt = im.format or "PNG"
            except Exception as exc:  # noqa: BLE001 - one bad task must not stop the export
                log.warning("task %s: no image (%s)", task_id, exc)
                counts["failed"] += 1
                continue
            path = out / f"{stem}{_EXTENSIONS.get(fmt, '.' + fmt.lower())}"
            write_bytes_atomic(path, data_bytes)
            counts["written"] += 1
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=int, required=True, help="Label Studio project id")
    parser.add_argument("--out", required=True, help="folder to write the images to")
    parser.add_argument(
        "--key",
        action="append",
        default=None,
        help="task-data key of the image (default: "
        "the <Image> tags of the project's label config, else 'image')",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ml_backend.images.fetcher import ImageFetcher
    from ml_backend.labelstudio.project import client_for
    from ml_backend.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.label_studio_url or not settings.api_key:
        print(
            "export-images needs LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (a legacy token or a "
            "personal access token) to list the project's tasks",
            file=sys.stderr,
        )
        return 2
    client = client_for(settings.label_studio_url, settings.api_key)
    try:
        keys = args.key
        if not keys:
            project = client.projects.get(id=args.project)
            keys = image_keys(getattr(project, "label_config", None)) or ["image"]
        fetcher = ImageFetcher.from_settings(settings)
        counts = export_images(
            client, fetcher, args.project, args.out, keys=keys, progress=not args.quiet
        )
    except Exception as exc:  # noqa: BLE001 - API errors: say what failed, no traceback
        print(f"export-images: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"project {args.project}: {counts['written']} image(s) written to {args.out}, "
        f"{counts['existing']} already there, {counts['failed']} could not be fetched, "
        f"{counts['without_image']} task(s) without an image"
    )
    print(f"next: python -m model_zoo pretrain --images {args.out} --out <name>")
    return 0 if counts["written"] + counts["existing"] else 1
