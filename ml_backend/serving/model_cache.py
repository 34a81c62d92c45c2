"""Process-wide cache of loaded models: each model loads once per process, never per request.

Under gunicorn the default classifier is loaded in the master before the workers fork
(``preload_app``); models that a project's label config asks for are loaded on first use and
kept. Loading is serialised per key, so concurrent first requests load a model only once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
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
        self._clipseg: dict[tuple, ClipSeg] = {}
        self._segmentation: dict[tuple, SegmentationModel] = {}
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

        def load() -> ImageClassifier:
            log.info("loading classifier %s for %d labels", name, len(labels))
            return load_classifier(
                name,
                labels,
                model_dir=self.settings.model_dir,
                device=self.settings.device,
                multi_label=multi_label,
            )

        return self._load_once(
            self._models, key, load, record_errors=True, then=lambda: self._evict_siblings(name)
        )

    def _load_once(
        self,
        models: dict,
        key: tuple,
        load: Callable[[], object],
        *,
        record_errors: bool,
        then: Callable[[], None] | None = None,
    ):
        """``models[key]``, loaded by ``load()`` the first time; concurrent first requests wait
        on one per-key lock, so a model loads once. ``record_errors``: a failure is kept for
        ``errors()`` (``/health``) until a later load of the same key succeeds."""
        model = models.get(key)
        if model is not None:
            return model
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            model = models.get(key)
            if model is None:
                try:
                    model = load()
                except Exception as exc:
                    if record_errors:
                        self._errors[key] = str(exc)
                    raise
                self._errors.pop(key, None)
                models[key] = model
                if then is not None:
                    then()
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

        def load() -> ClipSeg:
            log.info("loading CLIPSeg %s", name)
            return load_clipseg(
                name, model_dir=self.settings.model_dir, device=self.settings.device
            )

        return self._load_once(self._clipseg, (name, "clipseg"), load, record_errors=True)

    def segmentation(self, folder: Path) -> SegmentationModel:
        """The segmentation model saved in ``folder`` (a version's), loaded once per process."""

        def load() -> SegmentationModel:
            log.info("loading the segmentation model of %s", folder)
            return load_segmentation(folder, device=self.settings.device)

        key = (str(folder), "segmentation")
        return self._load_once(self._segmentation, key, load, record_errors=False)

    def _loaded_clipseg(self) -> list[dict]:
        return [
            {"name": key[0], "version": m.version, "device": str(m._device or "not yet used")}
            for key, m in list(self._clipseg.items())
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
