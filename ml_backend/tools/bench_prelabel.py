"""``python -m ml_backend bench-prelabel``: bulk pre-label throughput on a real Label Studio and
a real Redis, with 1 and 2 ``rq worker`` processes, next to the bare model on the same images.

Starts its own Label Studio (``.venv-ls``) and ``redis-server`` in a temp folder, makes
``--tasks`` synthetic images served as local files, and prints one table (tasks/s and the ratio
to the bare model). Every worker and the bare model get ``--threads`` torch threads, so the
2-worker figure shows whether the machine's cores allow a speed-up (``nproc`` is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CONFIG = (
    '<View><Image name="image" value="$image"/><Choices name="defect" toName="image">'
    '<Choice value="Crack"/><Choice value="Rust"/><Choice value="No defect"/></Choices></View>'
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--model", default="tiny-vit", help="CLASSIFIER_MODEL")
    parser.add_argument("--chunk", type=int, default=32, help="PRELABEL_CHUNK_SIZE")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--json", default=None, help="also write the figures here")


def _images(folder: Path, n: int, size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _bare(state, paths: list[Path], chunk: int) -> float:
    _, handlers = state.predictor.handlers(CONFIG, None)
    handler = handlers[0]
    handler.predict([Image.open(paths[0]).convert("RGB")])  # load the model first
    started = time.perf_counter()
    for start in range(0, len(paths), chunk):
        handler.predict([Image.open(p).convert("RGB") for p in paths[start : start + chunk]])
    return len(paths) / (time.perf_counter() - started)


def _workers(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen]:
    from ml_backend.jobs.runner import RQ_WORKER_OPTIONS

    rq = str(Path(sys.executable).parent / "rq")
    return [
        subprocess.Popen(
            [rq, "worker", "--url", env["REDIS_URL"], *RQ_WORKER_OPTIONS, env["RQ_QUEUE"]],
            env={**os.environ, **env},
            stdout=open(logs / f"worker-{n}-{i}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for i in range(n)
    ]


def _job(runner, ls, root: Path, name: str, paths: list[Path]) -> float:
    from ml_backend.labelstudio.project import client_for, create_project

    folder = root / name
    folder.mkdir()
    for p in paths:
        os.link(p, folder / p.name)
    project = create_project(client_for(ls.url, ls.legacy_token), name, CONFIG)
    ls.add_local_storage(project, folder, regex_filter=r".*\.png")
    started = time.perf_counter()
    job = runner.start(project, "all")
    summary = runner.wait(job["id"], timeout=3600)
    if summary["state"] != "succeeded" or summary["counts"]["pushed"] != len(paths):
        raise RuntimeError(f"bulk pre-label failed: {json.dumps(summary)[:400]}")
    return len(paths) / (time.perf_counter() - started)


def _measure(args, ls, redis_url: str, work: Path, paths: list[Path]) -> dict:
    from ml_backend.jobs.runner import PrelabelRunner
    from ml_backend.settings import Settings
    from ml_backend.state import BackendState
    from model_zoo.classifier.synthetic_probe import save_synthetic_probe

    # the backend pre-labels nothing with an untrained head: serve the model with a fitted one
    served = save_synthetic_probe(args.model, work / "trained", model_dir=work / "models")
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.legacy_token,
           "MODEL_DIR": str(work / "models"), "CLASSIFIER_MODEL": str(served),
           "PRELABEL_CHUNK_SIZE": str(args.chunk), "REDIS_URL": redis_url,
           "RQ_QUEUE": "fm-inspect-bench", "OMP_NUM_THREADS": str(args.threads),
           "LOCAL_FILES_DOCUMENT_ROOT": str(work / "files"), "QUEUE_ORDERING": "false"}  # fmt: skip
    state = BackendState(Settings.from_env(env))
    figures = {"bare_model": _bare(state, paths, args.chunk)}
    runner = PrelabelRunner(state)
    for n in (1, 2):
        workers = _workers(n, env, work)
        try:
            _job(runner, ls, work / "files", f"warmup-{n}", paths[: args.chunk * n])
            figures[f"{n}_worker"] = _job(runner, ls, work / "files", f"bench-{n}", paths)
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(30)
    return figures


def run(args: argparse.Namespace) -> int:
    import torch

    from ml_backend.tools.local_label_studio import LocalLabelStudio, default_venv
    from ml_backend.tools.local_redis import LocalRedis

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-prelabel-"))
    paths = _images(work / "images", args.tasks, args.size)
    (work / "files").mkdir()
    ls = LocalLabelStudio(data_dir=work / "ls", venv=default_venv(),
                          extra_env={"LOCAL_FILES_DOCUMENT_ROOT": str(work / "files")})  # fmt: skip
    redis = LocalRedis(work / "redis")
    try:
        ls.start(timeout=300)
        redis.start()
        figures = _measure(args, ls, redis.url, work, paths)
    finally:
        redis.stop()
        ls.stop()
        shutil.rmtree(work, ignore_errors=True)
    bare = figures["bare_model"]
    print(f"bulk pre-label, {args.tasks} tasks of {args.size}px, {args.model}, chunk {args.chunk}, "
          f"{args.threads} torch thread(s) per process, {os.cpu_count()} CPU(s)")  # fmt: skip
    print(f"{'':<14}{'tasks/s':>10}{'x bare':>9}{'x 1 worker':>12}")
    for name in ("bare_model", "1_worker", "2_worker"):
        rate = figures[name]
        print(f"{name:<14}{rate:>10.1f}{rate / bare:>9.2f}{rate / figures['1_worker']:>12.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0
