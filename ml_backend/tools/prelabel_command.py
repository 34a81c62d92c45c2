"""``python -m ml_backend prelabel --project N [--all | --unlabeled] [--model-version V]``.

Plans the bulk pre-label job of a project, then runs its chunks here with a progress bar, or,
with ``REDIS_URL`` set, queues them for the ``rq worker`` processes and follows their progress
(``--no-wait`` returns at once). Running the command again continues an unfinished job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tqdm import tqdm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=int, required=True, help="Label Studio project id")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--all", dest="mode", action="store_const", const="all",
                       help="every task, labeled or not")  # fmt: skip
    which.add_argument("--unlabeled", dest="mode", action="store_const", const="unlabeled",
                       help="only tasks without annotations (the default)")  # fmt: skip
    parser.set_defaults(mode="unlabeled")
    parser.add_argument("--model-version", default=None, help="fail unless this version is live")
    parser.add_argument("--no-wait", action="store_true", help="with REDIS_URL: queue and return")


def _done(summary: dict) -> int:
    counts = summary.get("counts", {})
    return sum(int(counts.get(k, 0)) for k in ("pushed", "skipped", "failed"))


def _follow(runner, job_id: str, bar: tqdm) -> dict:
    while True:
        summary = runner.records.summary(job_id)
        bar.n = min(bar.total, _done(summary))
        bar.refresh()
        if summary.get("state") in {"succeeded", "failed"}:
            return summary
        time.sleep(0.5)


def run(args) -> int:
    from ml_backend.jobs.prelabel import PrelabelError, plan
    from ml_backend.jobs.runner import PrelabelRunner
    from ml_backend.settings import Settings, SettingsError
    from ml_backend.state import BackendState

    try:
        state = BackendState(Settings.from_env())
        summary = plan(state, args.project, args.mode, args.model_version)
    except (SettingsError, PrelabelError, RuntimeError) as exc:
        print(f"prelabel: {exc}", file=sys.stderr)
        return 2
    runner = PrelabelRunner(state)
    job_id = summary["id"]
    bar = tqdm(total=summary["total"], initial=_done(summary), unit="task", desc=job_id)
    if state.settings.redis_url:
        runner.enqueue(job_id)
        if args.no_wait:
            bar.close()
            print(json.dumps({"id": job_id, "queued": True}))
            return 0
        summary = _follow(runner, job_id, bar)
    else:
        summary = runner.run_chunks(
            job_id,
            on_chunk=lambda c: bar.update(
                sum(int(c.get(k, 0) or 0) for k in ("pushed", "skipped", "failed"))
            ),  # fmt: skip
        )
    bar.close()
    short = {k: summary.get(k) for k in ("id", "state", "total", "counts", "chunk_states")}
    print(json.dumps(short))
    for error in runner.job(job_id).get("errors", [])[:20]:
        print(f"task {error['task']}: {error['error']}", file=sys.stderr)
    return 0 if summary.get("state") == "succeeded" else 1
