"""Process-wide cache of loaded models: each model loads once per process, never per request.

Under gunicorn the default classifier is loaded in the master before the workers fork
(``preload_app``); models that a project's label config asks for are loaded on first use and
kept. Loading is serialised per key, so concurrent first requests load a model only once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from ml_backend.serving.versions import project_scope, store_for
from ml_backend.settings import Settings
from model_zoo.classifier.model import ImageClassifier, load_classifier
from model_zoo.clipseg.model import ClipSeg, load_clipseg
from model_zoo.segmentation import SegmentationModel, load_segmentation

log = logging.getLogger(__name__)


class ModelCache:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._models: dict[tuple, ImageClassifier] = {}
        self._errors: dict[tuple, str] = {}
        self._guard = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self.store = store_for(settings)
        self._trained_for: dict[Path, str | None] = {}  # version folder -> the control it serves

    project_scope = staticmethod(project_scope)

    def live_model(self, project: str | None, control: str | None = None) -> Path | None:
        """The live trained version of a project (for ``control``), read from the store's pointer.

        Reading the pointer on each call is how every worker process picks up a new version.
        """
        if not project:
            return None
        path = self.store.live_path(self.project_scope(project))
        if path is None:
            return None
        if control is not None:
            if path not in self._trained_for:  # a written version never changes: read it once
                self._trained_for[path] = self.store.meta(path).get("control")
            if self._trained_for[path] not in (None, control):
                return None
        return path

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
                self._evict_siblings(name)
        return model

    def _evict_siblings(self, name: str) -> None:
        """A new version of a store scope replaces the older ones in memory."""
        path = Path(name)
        if (
            path.parent.name != "versions"
            or self.store.root.resolve() not in path.resolve().parents
        ):
            return
        for key in list(self._models):
            other = Path(key[0])
            if other.parent == path.parent and other != path:
                self._models.pop(key, None)
                log.info("unloaded %s (replaced by %s)", other.name, path.name)

    def clipseg(self, name: str) -> ClipSeg:
        """The CLIPSeg model ``name`` (zoo name, directory or hub id), loaded once per process."""
        models = self.__dict__.setdefault("_clipseg", {})
        key = (name, "clipseg")
        if key in models:
            return models[key]
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in models:
                log.info("loading CLIPSeg %s", name)
                try:
                    models[key] = load_clipseg(
                        name, model_dir=self.settings.model_dir, device=self.settings.device
                    )
                except Exception as exc:
                    self._errors[key] = str(exc)
                    raise
                self._errors.pop(key, None)
        return models[key]

    def segmentation(self, folder: Path) -> SegmentationModel:
        """The segmentation model saved in ``folder`` (a version's), loaded once per process."""
        models = self.__dict__.setdefault("_segmentation", {})
        key = (str(folder), "segmentation")
        if key in models:
            return models[key]
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in models:
                log.info("loading the segmentation model of %s", folder)
                models[key] = load_segmentation(folder, device=self.settings.device)
        return models[key]

    def _loaded_clipseg(self) -> list[dict]:
        return [
            {"name": key[0], "version": m.version, "device": str(m._device or "not yet used")}
            for key, m in list(self.__dict__.get("_clipseg", {}).items())
        ]

    def find(self, name: str) -> list[ImageClassifier]:
        """Classifiers already loaded from ``name`` (for any labels), most recent first."""
        return [m for k, m in reversed(list(self._models.items())) if k[0] == name]

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
        ] + self._loaded_clipseg()

    def errors(self) -> list[dict]:
        return [{"name": key[0], "error": err} for key, err in list(self._errors.items())]
