"""``python -m ml_backend reorder --project ID`` and ``python -m ml_backend bench-queue``.

``reorder`` runs one queue round now (see :mod:`ml_backend.queue.order`) with the backend's
settings (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY, MODEL_DIR, ACQUISITION_STRATEGY, ...), under the
project's training lock, and prints the summary as JSON.

``bench-queue`` measures how long applying a round takes for N tasks on a real Label Studio:
it creates a project with N tasks (no images are needed: the order is given), applies two rounds
and times each until its order is in force (``apply_s``) and, apart, the deletion of the
previous round that the ``prune-rounds`` job does afterwards (``prune_previous_s``) and checks ``GET /api/projects/{id}/next/`` after the first
(after the second the admin still holds the lock /next/ gave it, so it gets that task again). With
``--start-label-studio`` it starts a throw-away Label Studio from ``.venv-ls``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", required=True, help="Label Studio project id")
    parser.add_argument("--strategy", default=None, help="override ACQUISITION_STRATEGY")
    parser.add_argument("--minority", default=None, help="override MINORITY_CLASSES (a,b)")


def run(args: argparse.Namespace) -> int:
    import logging

    from ml_backend.jobs.records import ProjectLock
    from ml_backend.queue.order import reorder_project
    from ml_backend.queue.rounds import QueueRoundFailed
    from ml_backend.settings import Settings, SettingsError
    from ml_backend.state import BackendState
    from model_zoo.acquisition import AcquisitionError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    minority = None
    if args.minority is not None:
        minority = tuple(c.strip() for c in args.minority.split(",") if c.strip())
    state = BackendState(settings)
    lock = ProjectLock(settings.model_dir / "jobs", str(args.project), settings.redis_url)
    with lock.held() as got:
        if not got:
            print(f"project {args.project} is training right now; try again later", file=sys.stderr)
            return 1
        try:
            summary = reorder_project(
                state, str(args.project), strategy=args.strategy, minority=minority
            )
        except (QueueRoundFailed, AcquisitionError, RuntimeError) as exc:
            print(f"reorder failed (the previous order stays): {exc}", file=sys.stderr)
            return 1
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("state") in {"applied", "skipped"} else 1


# ------------------------------------------------------------------------------- benchmark
BENCH_CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    '<Choice value="Crack"/><Choice value="Rust"/><Choice value="No defect"/></Choices></View>'
)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=10000, help="tasks in the project (10000)")
    parser.add_argument("--url", default=None, help="Label Studio URL (else LABEL_STUDIO_URL)")
    parser.add_argument("--api-key", default=None, help="token (else LABEL_STUDIO_API_KEY)")
    parser.add_argument(
        "--start-label-studio", action="store_true", help="start a temporary Label Studio"
    )
    parser.add_argument("--chunk", type=int, default=2000, help="predictions per import call")
    parser.add_argument("--json", default=None, help="write the figures here")


def bench_apply(client, n_tasks: int, chunk: int, headers: dict, url: str) -> dict:
    import requests

    from ml_backend.controls.choices import choices_result
    from ml_backend.labelstudio.project import create_project, import_tasks
    from ml_backend.queue.rounds import apply_order, delete_rounds

    project = create_project(client, f"bench-queue-{n_tasks}", BENCH_CONFIG)
    started = time.perf_counter()
    ids: list[int] = []
    for start in range(0, n_tasks, 2000):
        rows = [
            {"data": {"image": f"https://example.invalid/{i}.png"}}
            for i in range(start, min(n_tasks, start + 2000))
        ]
        ids += import_tasks(client, project, rows)
    imported = time.perf_counter() - started
    result = [choices_result("defect", "image", ["Rust"])]
    figures = {"tasks": n_tasks, "import_tasks_s": round(imported, 1), "rounds": []}
    rng = np.random.default_rng(0)
    for _ in range(2):
        order = [int(i) for i in rng.permutation(ids)]
        t0 = time.perf_counter()
        applied = apply_order(
            client, project, order, {i: result for i in ids}, chunk=chunk, prune=False
        )
        seconds = time.perf_counter() - t0  # the new order is in force from here
        t1 = time.perf_counter()  # what the prune-rounds job does afterwards
        deleted = delete_rounds(
            client, project, applied["model_version"], applied["stale_versions"]
        )
        prune_s = time.perf_counter() - t1
        nxt = requests.get(f"{url}/api/projects/{project}/next/", headers=headers, timeout=600)
        nxt.raise_for_status()
        figures["rounds"].append(
            {
                "version": applied["model_version"],
                "apply_s": round(seconds, 2),
                "prune_previous_s": round(prune_s, 2),
                "deleted": deleted,
                "next_is_top": nxt.json().get("id") == order[0],
                "queue": nxt.json().get("queue"),
            }
        )
    return figures


def run_bench(args: argparse.Namespace) -> int:
    from ml_backend.labelstudio.project import client_for
    from ml_backend.settings import Settings
    from ml_backend.tools.local_label_studio import LocalLabelStudio, default_venv

    ls = None
    if args.start_label_studio:
        ls = LocalLabelStudio(
            data_dir=Path(tempfile.mkdtemp(prefix="bench-queue-ls-")), venv=default_venv()
        )
        ls.start(timeout=300)
        url, key = ls.url, ls.legacy_token
    else:
        settings = Settings.from_env()
        url, key = args.url or settings.label_studio_url, args.api_key or settings.api_key
    try:
        client = client_for(url, key)
        figures = bench_apply(
            client, args.tasks, args.chunk, {"Authorization": f"Token {key}"}, url
        )
    finally:
        if ls is not None:
            ls.stop()
            shutil.rmtree(ls.data_dir, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    # only the first round can be checked with one user: /next/ locks the task it serves, and
    # Label Studio serves a user's locked task again first (protocol §5.2, step 2a)
    return 0 if figures["rounds"][0]["next_is_top"] else 1
