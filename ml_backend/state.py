"""The composition root: everything one backend process holds, built from the settings.

``BackendState(settings)`` wires the model cache, the image fetcher, the predictor and (on first
use) the job executor, the training scheduler and the pre-label runner. The web app, RQ workers and the command line each build one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ml_backend.images.fetcher import ImageFetcher
from ml_backend.jobs.executor import JobExecutor
from ml_backend.jobs.registry import JOBS
from ml_backend.jobs.runner import PrelabelRunner
from ml_backend.jobs.scheduler import TrainingScheduler
from ml_backend.serving.interactive import InteractiveService
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.predictor import Predictor
from ml_backend.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_LABEL_CONFIG = Path(__file__).resolve().parents[1] / "label_config" / "defects.xml"


class BackendState:
    """Everything a worker process holds: settings, models, the image fetcher, the predictor."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelCache(settings)
        self.fetcher = ImageFetcher.from_settings(settings)
        self.predictor = Predictor(settings, self.models, self.fetcher)
        self.interactive = InteractiveService(settings, self.fetcher)
        self.default_version: str | None = None
        self.preload_error: str | None = None
        self.started_at = time.time()
        self._scheduler = None
        self._prelabel = None
        self._jobs = None

    @property
    def jobs(self) -> JobExecutor:
        """The one job executor (TRAIN_WORKERS threads here, or RQ with REDIS_URL)."""
        if self._jobs is None:
            self._jobs = JobExecutor(self, JOBS)
        return self._jobs

    @property
    def prelabel(self):
        """Bulk pre-label jobs (threads here, or RQ workers with REDIS_URL), made on first use."""
        if self._prelabel is None:
            self._prelabel = PrelabelRunner(self)
        return self._prelabel

    @property
    def scheduler(self):
        """The training scheduler, started on first use (not in RQ workers, which never ask)."""
        if self._scheduler is None:
            self._scheduler = TrainingScheduler(self)
        return self._scheduler

    def preload(self) -> None:
        """Load the default classifier for the shipped label config, before workers fork."""
        try:
            self.default_version = self.predictor.setup(DEFAULT_LABEL_CONFIG.read_text())
            log.info("preloaded %s", self.default_version)
        except Exception as exc:  # keep serving: /health and /setup report it
            self.preload_error = str(exc)
            log.error("could not preload the default classifier: %s", exc)
        if self.interactive.wanted() == "sam":  # SAM takes seconds to load: not on a click
            self.interactive.source()
