"""Process-wide cache of loaded models: each model loads once per process, never per request.

Under gunicorn the default classifier is loaded in the master before the workers fork
(``preload_app``); models that a project's label config asks for are loaded on first use and
kept. Loading is serialised per key, so concurrent first requests load a model only once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from ml_backend.settings import Settings
from model_zoo.classifier import ImageClassifier, load_classifier

log = logging.getLogger(__name__)


class ModelCache:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._models: dict[tuple, ImageClassifier] = {}
        self._errors: dict[tuple, str] = {}
        self._guard = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    @staticmethod
    def _key(name: str, labels: Sequence[str], multi_label: bool) -> tuple:
        return (name, tuple(labels), bool(multi_label))

    def classifier(
        self, name: str, labels: Sequence[str], multi_label: bool = False
    ) -> ImageClassifier:
        """The classifier ``name`` with outputs for ``labels`` (see ``load_classifier``)."""
        key = self._key(name, labels, multi_label)
        model = self._models.get(key)
        if model is not None:
            return model
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            model = self._models.get(key)
            if model is None:
                log.info("loading classifier %s for %d labels", name, len(labels))
                try:
                    model = load_classifier(
                        name,
                        labels,
                        model_dir=self.settings.model_dir,
                        device=self.settings.device,
                        multi_label=multi_label,
                    )
                except Exception as exc:
                    self._errors[key] = str(exc)
                    raise
                self._errors.pop(key, None)
                self._models[key] = model
        return model

    def loaded(self) -> list[dict]:
        return [
            {
                "name": key[0],
                "version": model.version,
                "classes": model.classes,
                "head_trained": model.head_trained,
                "device": str(model._device or "not yet used"),
            }
            for key, model in list(self._models.items())
        ]

    def errors(self) -> list[dict]:
        return [{"name": key[0], "error": err} for key, err in list(self._errors.items())]
