"""``python -m ml_backend bench-memory``: worker memory for one /predict of big images, with and
without the per-request pixel budget (``PREDICT_PIXEL_BUDGET``).

Each budget runs in a fresh process (so peaks do not mix): the real app (``create_app``, the
default ``tiny-vit`` classifier), one warm-up request with a small image, then one request of
``--tasks`` tasks that all point at the same ``--side`` × ``--side`` PNG (a small file: a flat
image compresses well, the issue's 78 KB PNG of 9000 × 9000 pixels). A thread samples the
process's resident memory (``VmRSS``) every 5 ms; the table shows it before the request and at
its peak during it. Budget ``0`` means none (every image of the batch decoded at once, the
behaviour before the budget).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from model_zoo.table import format_table

UNBOUNDED = 10**15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--side", type=int, default=9000, help="image side, pixels")
    parser.add_argument("--tasks", type=int, default=8, help="tasks in the request")
    parser.add_argument(
        "--budgets",
        default="0,100000000",
        help="comma-separated PREDICT_PIXEL_BUDGET values to compare (0: no budget)",
    )
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)


def _served_model(folder: Path) -> Path:
    """The default model with its head fitted on synthetic images (the backend pre-labels
    nothing with an untrained head), made here so that the measured children only load it."""
    from model_zoo.classifier.synthetic_probe import save_synthetic_probe

    return save_synthetic_probe("efficientnet-lite0", folder / "trained", model_dir=folder)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _data_url(side: int) -> tuple[str, int]:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (128, 120, 110)).save(buffer, format="PNG")
    raw = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(raw).decode(), len(raw)


def measure_one(side: int, tasks: int, budget: int, model: str) -> dict:
    """In this process: RSS before and at the peak of one /predict of ``tasks`` big images."""
    from ml_backend.server.app import create_app
    from ml_backend.settings import Settings
    from ml_backend.state import DEFAULT_LABEL_CONFIG

    model_dir = tempfile.mkdtemp(prefix="bench-memory-")
    settings = Settings.from_env(
        {
            "MODEL_DIR": model_dir,
            "CLASSIFIER_MODEL": model,
            "DEVICE": "cpu",
            "LOG_LEVEL": "WARNING",
            "PREDICT_PIXEL_BUDGET": str(budget or UNBOUNDED),
        }
    )
    client = create_app(settings).test_client()
    config = DEFAULT_LABEL_CONFIG.read_text()
    small, _ = _data_url(64)
    client.post(
        "/predict", json={"tasks": [{"id": 0, "data": {"image": small}}], "label_config": config}
    )
    url, png_bytes = _data_url(side)
    body = {
        "tasks": [{"id": i, "data": {"image": url}} for i in range(tasks)],
        "label_config": config,
    }
    before, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    response = client.post("/predict", json=body)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    predicted = sum(1 for r in response.get_json()["results"] if r)
    return {
        "budget": budget,
        "png_kb": round(png_bytes / 1024),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(max(peak[0], _rss_mb())),
        "predicted": predicted,
        "seconds": round(seconds, 1),
    }


def run(args: argparse.Namespace) -> int:
    if args.one is not None:
        print(json.dumps(measure_one(args.side, args.tasks, args.one, args.model)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-model-") as tmp:
        served = _served_model(Path(tmp))
        for budget in [int(b) for b in args.budgets.split(",") if b.strip()]:
            cmd = [sys.executable, "-m", "ml_backend", "bench-memory", "--side", str(args.side)]
            cmd += ["--tasks", str(args.tasks), "--one", str(budget), "--model", str(served)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    mp = args.side * args.side / 1e6
    print(
        f"{args.tasks} tasks of one {args.side}x{args.side} PNG ({mp:.0f} MP each, {rows[0]['png_kb']} KB)"
    )
    table = [
        {
            "budget": str(r["budget"] or "none"),
            "before": r["rss_before_mb"],
            "peak": r["rss_peak_mb"],
            "extra": r["rss_peak_mb"] - r["rss_before_mb"],
            "predicted": f"{r['predicted']}/{args.tasks}",
            "seconds": r["seconds"],
        }
        for r in rows
    ]
    titles = {
        "budget": "PREDICT_PIXEL_BUDGET",
        "before": "RSS before (MB)",
        "peak": "peak RSS (MB)",
        "extra": "extra (MB)",
        "seconds": "s",
    }
    print(format_table(table, headers=titles, digits=1))
    return 0
