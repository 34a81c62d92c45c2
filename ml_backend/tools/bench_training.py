"""``python -m ml_backend bench-training``: training time per round against the number of labels
(tiny and ViT-Base-sized models, CPU), and how fast ``/webhook`` answers.

A round here is the fine-tuning part of a real round (pre-processing + epochs + hold-out
evaluation) on synthetic images of three classes; reading annotations and downloading images
from Label Studio come on top and depend on the network. The webhook is timed in process
(Flask test client) over many ANNOTATION_CREATED events that only count towards the next round.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

from model_zoo.table import format_table

CLASSES = ["algae", "rust", "no_defect"]


def _examples(n: int, seed: int = 0) -> list[tuple[Image.Image, int]]:
    from model_zoo.data.synth import render_sample

    rng = np.random.default_rng(seed)
    return [
        (Image.fromarray(render_sample(CLASSES[i % 3], rng, size=128)[0]), i % 3) for i in range(n)
    ]


def _timed_round(model: str, data, cut: int, epochs: int, unlabeled) -> tuple[float, object]:
    from model_zoo.classifier.model import load_classifier
    from model_zoo.classifier.training import TrainConfig, fine_tune

    classifier = load_classifier(model, CLASSES, device="cpu")
    started = time.perf_counter()
    result = fine_tune(
        classifier,
        data[cut:],
        data[:cut],
        # with a pool: self-training on it (off by default, TRAIN_SELF_TRAINING=true turns it on)
        TrainConfig(
            epochs=epochs,
            patience=epochs,
            progress=False,
            self_training=bool(unlabeled),
            unlabeled_max=max(1, len(unlabeled)),
        ),
        unlabeled=unlabeled,
    )
    return time.perf_counter() - started, result


def bench_round(model: str, labels: int, epochs: int, unlabeled: int = 0) -> dict:
    """One round's fine-tuning part; with ``unlabeled``, the same round again with a pool of
    that many images embedded on the fly (no feature cache: the worst case) and the ratio."""
    data = _examples(labels)
    cut = max(3, int(len(data) * 0.2))
    seconds, result = _timed_round(model, data, cut, epochs, [])
    extra = {}
    if unlabeled:
        pool = [im for im, _ in _examples(unlabeled, seed=1)]
        with_pool, pooled = _timed_round(model, data, cut, epochs, pool)
        extra = {
            "unlabeled": unlabeled,
            "pool_read": int(pooled.metrics.get("unlabeled_pool", 0)),
            "pseudo_labels": int((pooled.metrics.get("self_training") or {}).get("used", 0)),
            "round_unlabeled_s": round(with_pool, 2),
            "ratio": round(with_pool / seconds, 2),
        }
    return {
        "model": model,
        "labels": labels,
        "epochs": len(result.history),
        "round_s": round(seconds, 2),
        "s_per_epoch": round(seconds / max(1, len(result.history)), 2),
        "ms_per_image_epoch": round(
            1000 * seconds / max(1, len(result.history)) / (labels - cut), 1
        ),
        **extra,
    }


def bench_webhook(events: int) -> dict:
    from ml_backend.server.app import create_app
    from ml_backend.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {
                "MODEL_DIR": tmp,
                "TRAIN_AFTER_ANNOTATIONS": str(events * 10),
                "TRAIN_QUIET_SECONDS": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        client = create_app(settings, preload=False).test_client()
        event = {
            "action": "ANNOTATION_CREATED",
            "project": {"id": 1},
            "annotation": {"id": 1, "result": []},
        }
        client.post("/webhook", json=event)
        times = []
        for _ in range(events):
            t0 = time.perf_counter()
            assert client.post("/webhook", json=event).status_code == 200
            times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "events": events,
        "median_ms": round(statistics.median(times) * 1000, 2),
        # nearest rank: the smallest time that 95 % of the events do not exceed
        "p95_ms": round(times[math.ceil(0.95 * len(times)) - 1] * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="tiny-vit,random-vit-base")
    parser.add_argument("--labels", default="30,60,120", help="labeled images per round")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--events", type=int, default=300, help="webhook events to time")
    parser.add_argument(
        "--unlabeled",
        type=int,
        default=0,
        help="also time each round with an unlabeled pool of this many images (self-training; "
        "embedded on the fly, no feature cache), and the ratio",
    )


def run(args: argparse.Namespace) -> int:
    import torch

    rows = [
        bench_round(model.strip(), int(n), args.epochs, args.unlabeled)
        for model in args.models.split(",")
        if model.strip()
        for n in args.labels.split(",")
    ]
    print(
        f"\ntraining round vs labels (fine-tuning part), CPU, torch threads={torch.get_num_threads()}, 128 px images"
    )
    print(format_table(rows))
    print("\n/webhook answer time (in process)")
    print(format_table([bench_webhook(args.events)]))
    return 0
