"""``python -m ml_backend bench``: per-image latency of the backend's /predict path next to the
bare model forward pass, on the same images, and their ratio.

The /predict path is the real one, in process: JSON request → image download from a local HTTP
server (allow-listed) → decode → pre-processing → batched forward → label mapping → validation
against the label config → JSON response. The bare forward pass is the model alone on
already pre-processed tensors. Both are measured in the same run, on the same batches.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from PIL import Image

from model_zoo.table import format_table

CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="defect" toName="image" choice="single">{choices}</Choices></View>"""
LABELS = [
    "Crack",
    "Net crack",
    "Spalling",
    "Exposed rebar",
    "Rust",
    "Efflorescence",
    "Algae",
    "No defect",
]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the access log
        pass


def _serve(directory: str) -> tuple[ThreadingHTTPServer, int]:
    handler = lambda *a, **k: _QuietHandler(*a, directory=directory, **k)  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _images(n: int, size: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.normal(128, 25, (size, size, 1)) + rng.normal(0, 12, (size, size, 3))
        out.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))
    return out


def bench_model(model: str, n_images: int, batch: int, size: int, repeats: int) -> dict:
    with TemporaryDirectory() as tmp:
        images = _images(n_images, size, seed=0)
        for i, im in enumerate(images):
            im.save(Path(tmp) / f"{i}.png")
        server, port = _serve(tmp)
        try:
            client, classifier = _backend(Path(tmp) / "models", model, batch)
            batches = [list(range(s, min(s + batch, n_images))) for s in range(0, n_images, batch)]
            tensors = [classifier.preprocess([images[i] for i in ids]) for ids in batches]
            _time_predict(client, batches, port), _time_forward(classifier, tensors)  # warm-up
            path_times, bare_times = [], []
            for _ in range(repeats):  # interleaved, so drift hits both alike
                path_times.append(_time_predict(client, batches, port))
                bare_times.append(_time_forward(classifier, tensors))
        finally:
            server.shutdown()
    path_ms = statistics.median(path_times) / n_images * 1000
    bare_ms = statistics.median(bare_times) / n_images * 1000
    params = sum(p.numel() for p in classifier.model.parameters())
    return {
        "model": model,
        "params_M": round(params / 1e6, 2),
        "image_px": size,
        "batch": batch,
        "predict_ms_per_image": round(path_ms, 2),
        "forward_ms_per_image": round(bare_ms, 2),
        "ratio": round(path_ms / bare_ms, 2),
        "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _backend(model_dir: Path, model: str, batch: int):
    """(a test client of the backend serving ``model``, the classifier it serves).

    The backend serves no untrained head, so ``model`` is served with its head fitted on
    synthetic images first (as a round's fast version would be): the forward pass is the same."""
    from ml_backend.server.app import create_app
    from ml_backend.settings import Settings
    from model_zoo.classifier.synthetic_probe import save_synthetic_probe

    served = save_synthetic_probe(model, model_dir / "trained", model_dir=model_dir)
    settings = Settings.from_env(
        {
            "CLASSIFIER_MODEL": str(served),
            "MODEL_DIR": str(model_dir),
            "ALLOWED_IMAGE_HOSTS": "127.0.0.1",
            "PREDICT_BATCH_SIZE": str(batch),
            "LOG_LEVEL": "WARNING",
            "DEVICE": "cpu",
        }
    )
    app = create_app(settings, preload=False)
    return app.test_client(), app.extensions["fm_inspect"].models.classifier(str(served), LABELS)


def _time_predict(client, batches: list[list[int]], port: int) -> float:
    """Seconds for the whole /predict path: download, decode, preprocess, forward, results."""
    config = CONFIG.format(choices="".join(f'<Choice value="{c}"/>' for c in LABELS))
    t0 = time.perf_counter()
    for ids in batches:
        tasks = [{"id": i, "data": {"image": f"http://127.0.0.1:{port}/{i}.png"}} for i in ids]
        r = client.post("/predict", json={"tasks": tasks, "label_config": config})
        answer = r.get_json()
        assert r.status_code == 200 and not answer["errors"], r.get_data()[:500]
        assert all(answer["results"]), f"a task got no prediction: {answer.get('note')}"
    return time.perf_counter() - t0


def _time_forward(classifier, tensors) -> float:
    """Seconds for the bare forward passes of the same batches."""
    t0 = time.perf_counter()
    for x in tensors:
        classifier.logits(x)
    return time.perf_counter() - t0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="efficientnet-lite0,random-vit-base")
    parser.add_argument("--images", type=int, default=32, help="images per repeat")
    parser.add_argument("--batch", type=int, default=16, help="tasks per /predict request")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the rows to this file")


def run(args: argparse.Namespace) -> int:
    import torch

    rows = [
        bench_model(m.strip(), args.images, args.batch, args.size, args.repeats)
        for m in args.models.split(",")
        if m.strip()
    ]
    print(
        f"\n/predict path vs bare forward pass, CPU, torch threads={torch.get_num_threads()}, median of {args.repeats}"
    )
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0
