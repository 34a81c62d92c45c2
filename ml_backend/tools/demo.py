"""``make demo`` / ``python -m ml_backend.tools.demo``: the whole loop on one machine, offline.

1. writes synthetic concrete-inspection images (``python -m model_zoo synth``);
2. fine-tunes the ImageNet-pretrained ``efficientnet-lite0`` on them (its weights ship in a
   pip package, converted on first use; the model is cached in ``demo-data/models``) and prints
   its accuracy on a held-out test split;
3. starts a local Label Studio 1.23.2 (its own venv, ``.venv-ls``) and the backend (gunicorn);
4. creates a project with ``label_config/defects.xml``, imports the images (uploaded files and
   local files) and, with ``--images DIR`` (``make demo IMAGES=DIR``), your own photos beside
   them, connects the backend and runs "Retrieve Predictions";
5. prints the URL and login, and keeps both servers running until Ctrl-C.

Everything lives under ``demo-data/`` (``--data-dir``); a second run reuses the data and model.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_backend.labelstudio.project import (
    client_for,
    connect_backend,
    create_project,
    import_tasks,
    predictions,
    retrieve_predictions,
    upload_images,
)
from ml_backend.tools.local_backend import LocalBackend
from ml_backend.tools.local_label_studio import LocalLabelStudio, find_free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
LABEL_CONFIG = REPO_ROOT / "label_config" / "defects.xml"
log = logging.getLogger("demo")


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def ensure_data(root: Path, n: int, seed: int) -> Path:
    from model_zoo.data.synth import generate_dataset

    synth = root / "files" / "synth"
    if not (synth / "tasks.json").is_file():
        step(f"writing {n} synthetic inspection images to {synth}")
        generate_dataset(synth, n=n, seed=seed, image_url_prefix="/data/local-files/?d=synth/")
    return synth


def ensure_model(root: Path, data: Path, epochs: int) -> Path:
    out = root / "models" / "demo-classifier"
    if not (out / "fm_inspect.json").is_file():
        step("fine-tuning the ImageNet-pretrained efficientnet-lite0 on the synthetic images")
        code = subprocess.call(  # the model_zoo command line, as a user would run it
            [
                sys.executable,
                "-m",
                "model_zoo",
                "finetune",
                "--data",
                str(data),
                "--model",
                "efficientnet-lite0",
                "--model-dir",
                str(root / "models"),
                "--out",
                str(out),
                "--epochs",
                str(epochs),
                "--version",
                "demo-classifier-1",
            ],
            cwd=REPO_ROOT,
        )
        if code:
            raise SystemExit(code)
    return out


def spread(items: list, count: int) -> list:
    """``count`` items taken evenly over ``items`` (the synthetic set is written class by class,
    so this gives every class its share of the demo's tasks)."""
    if count <= 0 or not items:
        return []
    count = min(count, len(items))
    return [items[(i * len(items)) // count] for i in range(count)]


def test_accuracy(model: Path) -> str:
    """The fine-tuned model's accuracy on its held-out test split (from its metrics.json)."""
    try:
        metrics = json.loads((model / "metrics.json").read_text())["metrics"]
        return f"{metrics['accuracy']:.3f} on {metrics['test_size']} held-out test images"
    except (OSError, ValueError, KeyError):
        return "unknown (no metrics.json)"


def _start_label_studio(root: Path, port: int | None) -> LocalLabelStudio:
    step("starting Label Studio 1.23.2 (first start migrates its database: ~30 s)")
    return LocalLabelStudio(
        data_dir=root / "label-studio",
        port=port or find_free_port(),
        extra_env={"LOCAL_FILES_DOCUMENT_ROOT": str(root / "files")},
    ).start()


def _start_backend(root: Path, ls: LocalLabelStudio, model: Path, port: int | None) -> LocalBackend:
    step("starting the fm-inspect backend (gunicorn)")
    return LocalBackend(
        env={
            "LABEL_STUDIO_URL": ls.url,
            "LABEL_STUDIO_API_KEY": ls.legacy_token,
            "MODEL_DIR": str(root / "models"),
            "CLASSIFIER_MODEL": str(model),
            "LOCAL_FILES_DOCUMENT_ROOT": str(root / "files"),
            "LOG_LEVEL": "INFO",
        },
        log_path=root / "backend.log",
        port=port or find_free_port(),
    ).start()


@dataclass
class DemoProject:
    """The project the demo created, and the tasks it imported (local files, then uploads)."""

    client: Any
    project: int
    task_ids: list[int]


def _create_project(
    ls: LocalLabelStudio, backend: LocalBackend, synth: Path, args: argparse.Namespace
) -> DemoProject:
    step("creating the project, importing images, connecting the backend")
    client = client_for(ls.url, ls.legacy_token)
    project = create_project(
        client, f"fm-inspect demo {time.strftime('%H:%M:%S')}", LABEL_CONFIG.read_text()
    )
    ls.add_local_storage(
        project, synth / "images", title="synthetic images", regex_filter=r".*\.png", sync=False
    )
    tasks = spread(json.loads((synth / "tasks.json").read_text()), args.tasks)
    task_ids = import_tasks(
        client, project, [{"data": {"image": t["data"]["image"]}} for t in tasks]
    )
    uploads = spread(sorted((synth / "images").glob("*/*.png"))[1::2], args.uploads)
    task_ids += upload_images(ls.url, ls.auth_headers(), project, uploads)
    if args.images:
        own = user_images(Path(args.images), args.max_images)
        print(f"    uploading {len(own)} of your images from {args.images}")
        task_ids += upload_images(ls.url, ls.auth_headers(), project, own)
    connect_backend(client, project, backend.url)
    return DemoProject(client, project, task_ids)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def user_images(folder: Path, limit: int) -> list[Path]:
    """The image files under ``folder`` (recursively, sorted), at most ``limit`` spread evenly
    over them; a folder without images is an error that says what was looked for."""
    if not folder.is_dir():
        raise SystemExit(f"--images {folder}: no such folder")
    found = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not found:
        raise SystemExit(
            f"--images {folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it"
        )
    return spread(found, limit)


@dataclass
class PredictionCounts:
    """What the stored predictions say: choices, model versions and CAM mask regions."""

    choices: Counter
    versions: Counter
    masks: Counter

    @classmethod
    def of(cls, stored: list[dict]) -> PredictionCounts:
        def results(kind: str | None = None):
            for p in stored:
                for r in p.get("result") or []:
                    if kind is None or r.get("type") == kind:
                        yield r

        return cls(
            choices=Counter(c for r in results() for c in r.get("value", {}).get("choices", [])),
            versions=Counter(p.get("model_version") for p in stored),
            masks=Counter(
                label
                for r in results("brushlabels")
                for label in r.get("value", {}).get("brushlabels", [])
            ),
        )


def _retrieve(demo: DemoProject) -> list[dict]:
    """Run "Retrieve Predictions" on every task, print what was stored and return it."""
    step(f"retrieving predictions for {len(demo.task_ids)} tasks")
    started = time.perf_counter()
    retrieve_predictions(demo.client, demo.project)
    stored = predictions(demo.client, demo.project)
    seconds = time.perf_counter() - started
    counts = PredictionCounts.of(stored)
    print(
        f"    {len(stored)} predictions stored in {seconds:.1f}s; "
        f"model versions {dict(counts.versions)}"
    )
    print(f"    predicted choices: {dict(counts.choices.most_common())}")
    print(f"    defect mask regions (CAM): {dict(counts.masks.most_common())}")
    return stored


def _serve_until_stopped(ls: LocalLabelStudio) -> int:
    print("Press Ctrl-C to stop both servers.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while ls.is_running():
        time.sleep(1)
    return 0


def run(args: argparse.Namespace) -> int:
    root = Path(args.data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    synth = ensure_data(root, args.n, args.seed)
    model = ensure_model(root, synth, args.epochs)
    print(f"    classifier test accuracy: {test_accuracy(model)}")

    ls = _start_label_studio(root, args.ls_port)
    backend = None
    try:
        backend = _start_backend(root, ls, model, args.backend_port)
        demo = _create_project(ls, backend, synth, args)
        stored = _retrieve(demo)
        print(
            f"\nLabel Studio: {ls.url}/projects/{demo.project}/data\n"
            f"login:        {ls.username} / {ls.password}\n"
            f"backend:      {backend.url}/health   (log: {root / 'backend.log'})\n"
        )
        if args.no_wait:
            return 0 if len(stored) == len(demo.task_ids) else 1
        return _serve_until_stopped(ls)
    except KeyboardInterrupt:
        return 0
    finally:
        if backend is not None:
            backend.stop()
        ls.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml_backend.tools.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", default=str(REPO_ROOT / "demo-data"))
    parser.add_argument("--n", type=int, default=400, help="synthetic images to write")
    parser.add_argument("--tasks", type=int, default=60, help="local-file tasks to import")
    parser.add_argument("--uploads", type=int, default=8, help="images to upload as files")
    parser.add_argument(
        "--images",
        default=None,
        help="a folder of your own photos to import beside the sample tasks (make demo IMAGES=...)",
    )
    parser.add_argument(
        "--max-images", type=int, default=100, help="most of your photos to upload (spread evenly)"
    )
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs after the probe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ls-port", type=int, default=None, help="Label Studio port (default: a free one)"
    )
    parser.add_argument("--backend-port", type=int, default=None)
    parser.add_argument(
        "--no-wait", action="store_true", help="exit after pre-annotating (smoke test)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
