"""Prometheus metrics (``GET /metrics``): requests, latency, webhook events, trainings.

With several gunicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py does it under
``$MODEL_DIR/.metrics`` when ``WORKERS`` > 1) and the numbers of all workers are added up.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("fm_inspect_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "fm_inspect_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 100),
)
PREDICTED_TASKS = Counter("fm_inspect_predicted_tasks_total", "Tasks predicted", ["outcome"])
WEBHOOK_EVENTS = Counter("fm_inspect_webhook_events_total", "Webhook events received", ["action"])
TRAININGS = Counter("fm_inspect_trainings_total", "Training rounds", ["result"])
TRAINING_SECONDS = Histogram(
    "fm_inspect_training_seconds",
    "Training round duration",
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
)

PRELABEL_TASKS = Counter(
    "fm_inspect_prelabel_tasks_total", "Tasks handled by bulk pre-label jobs", ["outcome"]
)
PRELABEL_CHUNKS = Counter(
    "fm_inspect_prelabel_chunks_total", "Bulk pre-label chunks run", ["result"]
)
PRELABEL_REMAINING = Gauge(
    "fm_inspect_prelabel_tasks_remaining",
    "Tasks still to pre-label, per job (set when /health, /jobs or /metrics is read)",
    ["job"],
    multiprocess_mode="max",
)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
