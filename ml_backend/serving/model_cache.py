"""Process-wide cache of loaded models: each model loads once per process, never per request,
within a memory budget.

Under gunicorn the default classifier is loaded in the master before the workers fork
(``preload_app``); models that a project's label config asks for are loaded on first use, if
the allow-list admits them (:mod:`ml_backend.serving.model_policy`). Loading is serialised per
key, so concurrent first requests load a model only once. The cache holds at most
``MODEL_CACHE_BYTES`` of parameters and buffers: beyond that the least recently used model is
unloaded (it loads again when next asked for). A failed load is reported as a
:class:`~model_zoo.loading.ModelLoadError` whose message names the model and what to do, never a
path that the request did not name itself.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ml_backend.serving.model_policy import ModelPolicy
from ml_backend.serving.versions import project_scope, store_for
from ml_backend.settings import Settings
from model_zoo.classifier.model import ImageClassifier, load_classifier
from model_zoo.clipseg.model import ClipSeg, load_clipseg
from model_zoo.loading import ModelLoadError
from model_zoo.segmentation import SegmentationModel, load_segmentation
from model_zoo.zeroshot import ZeroShotClassifier, load_zero_shot

log = logging.getLogger(__name__)

CLASSIFIER, CLIPSEG, SEGMENTATION = "classifier", "clipseg", "segmentation"
ZERO_SHOT = "zero-shot"


def model_bytes(model: object) -> int:
    """Bytes of the parameters and buffers of a loaded model (its torch module)."""
    module = next(
        (
            m
            for m in (getattr(model, "model", None), getattr(model, "network", None), model)
            if isinstance(m, torch.nn.Module)
        ),
        None,
    )
    if module is None:
        return 0
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _load_failure(name: str, exc: Exception) -> ModelLoadError:
    """A loader's unexpected exception as a message that probes nothing: the same text whether
    or not a file exists (the log keeps the details)."""
    log.error("loading %s failed: %r", name, exc)
    return ModelLoadError(
        f"cannot load model {name[:200]!r}: it is not a model saved with save_pretrained, a "
        "zoo name or a reachable hub id. Check the model_name of the label config (or "
        "CLASSIFIER_MODEL/CLIPSEG_MODEL) and `python -m model_zoo list`; the backend log has "
        "the details."
    )


class ModelCache:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.policy = ModelPolicy(settings)
        self.budget = settings.model_cache_bytes
        self._loaded: OrderedDict[tuple, object] = OrderedDict()  # least recently used first
        self._sizes: dict[tuple, int] = {}
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

    def admit(self, name: str) -> str:
        """``name`` if the allow-list admits it (see :mod:`ml_backend.serving.model_policy`)."""
        self.policy.admit(name)
        return name

    def classifier(
        self, name: str, labels: Sequence[str], multi_label: bool = False
    ) -> ImageClassifier:
        """The classifier ``name`` with outputs for ``labels`` (see ``load_classifier``)."""
        key = (CLASSIFIER, name, tuple(labels), bool(multi_label))

        def load() -> ImageClassifier:
            log.info("loading classifier %s for %d labels", name, len(labels))
            return load_classifier(
                name,
                labels,
                model_dir=self.settings.model_dir,
                device=self.settings.device,
                multi_label=multi_label,
            )

        return self._load_once(key, load, then=lambda: self._evict_siblings(name))

    def clipseg(self, name: str) -> ClipSeg:
        """The CLIPSeg model ``name`` (zoo name, directory or hub id), loaded once per process."""

        def load() -> ClipSeg:
            log.info("loading CLIPSeg %s", name)
            return load_clipseg(
                name, model_dir=self.settings.model_dir, device=self.settings.device
            )

        return self._load_once((CLIPSEG, name), load)

    def zero_shot(self, name: str) -> ZeroShotClassifier:
        """The CLIP model ``name`` for zero-shot class scores, loaded once per process."""

        def load() -> ZeroShotClassifier:
            log.info("loading zero-shot CLIP %s", name)
            return load_zero_shot(
                name, model_dir=self.settings.model_dir, device=self.settings.device
            )

        return self._load_once((ZERO_SHOT, name), load)

    def segmentation(self, folder: Path) -> SegmentationModel:
        """The segmentation model saved in ``folder`` (a version's), loaded once per process."""

        def load() -> SegmentationModel:
            log.info("loading the segmentation model of %s", folder)
            return load_segmentation(folder, device=self.settings.device)

        return self._load_once((SEGMENTATION, str(folder)), load, record_errors=False)

    def _load_once(
        self,
        key: tuple,
        load: Callable[[], object],
        *,
        record_errors: bool = True,
        then: Callable[[], None] | None = None,
    ):
        """The model of ``key``, loaded by ``load()`` the first time; concurrent first requests
        wait on one per-key lock, so a model loads once. ``record_errors``: a failure is kept for
        ``errors()`` (``/health``) until a later load of the same key succeeds."""
        model = self._hit(key)
        if model is not None:
            return model
        if key[0] != SEGMENTATION:  # segmentation folders are the store's own versions
            self.policy.admit(key[1])  # before anything is kept for the name
        with self._guard:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            model = self._hit(key)
            if model is None:
                model = self._load_new(key, load, record_errors)
                if then is not None:
                    then()
        return model

    def _hit(self, key: tuple):
        with self._guard:
            model = self._loaded.get(key)
            if model is not None:
                self._loaded.move_to_end(key)
            return model

    def _load_new(self, key: tuple, load: Callable[[], object], record_errors: bool):
        name = key[1]
        try:
            model = load()
        except Exception as exc:  # the loader's ModelLoadError, FileNotFoundError, OSError ...
            own = isinstance(exc, ModelLoadError) and self.policy.configured(name)
            error = exc if own else _load_failure(name, exc)
            self._remember(key, error, record_errors)
            if own:
                raise
            raise error from exc
        size = model_bytes(model)
        with self._guard:
            self._errors.pop(key, None)
            self._loaded[key] = model
            self._sizes[key] = size
            self._evict_over_budget(keep=key)
        return model

    def _remember(self, key: tuple, exc: Exception, record: bool) -> None:
        if record:
            with self._guard:
                self._errors[key] = str(exc)

    def _evict_over_budget(self, keep: tuple) -> None:
        """Unload least recently used models until the cache fits its budget (under _guard)."""
        for key in list(self._loaded):
            if sum(self._sizes.values()) <= self.budget:
                return
            if key != keep:
                self._drop(key, "over MODEL_CACHE_BYTES")

    def _drop(self, key: tuple, why: str) -> None:
        self._loaded.pop(key, None)
        self._key_locks.pop(key, None)  # nothing kept per key once its model is gone
        size = self._sizes.pop(key, 0)
        log.info("unloaded %s %s (%.1f MB, %s)", key[0], key[1], size / 1e6, why)

    def _evict_siblings(self, name: str) -> None:
        """A new version of a store scope replaces the older ones in memory."""
        path = Path(name)
        if (
            path.parent.name != "versions"
            or self.store.root.resolve() not in path.resolve().parents
        ):
            return
        with self._guard:
            for key in list(self._loaded):
                other = Path(key[1])
                if key[0] == CLASSIFIER and other.parent == path.parent and other != path:
                    self._drop(key, f"replaced by {path.name}")

    def cached_bytes(self) -> int:
        with self._guard:
            return sum(self._sizes.values())

    def _of_kind(self, kind: str) -> list[tuple[tuple, object]]:
        with self._guard:
            return [(k, m) for k, m in self._loaded.items() if k[0] == kind]

    def find(self, name: str) -> list[ImageClassifier]:
        """Classifiers already loaded from ``name`` (for any labels), most recent first."""
        return [m for k, m in reversed(self._of_kind(CLASSIFIER)) if k[1] == name]

    def loaded(self) -> list[dict]:
        classifiers = [
            {
                "name": key[1],
                "version": model.version,
                "classes": model.classes,
                "head_trained": model.head_trained,
                "device": str(model._device or "not yet used"),
            }
            for key, model in self._of_kind(CLASSIFIER)
        ]
        clipseg = [
            {"name": key[1], "version": m.version, "device": str(m._device or "not yet used")}
            for key, m in self._of_kind(CLIPSEG)
        ]
        return classifiers + clipseg

    def errors(self) -> list[dict]:
        with self._guard:
            return [{"name": key[1], "error": err} for key, err in self._errors.items()]
