"""Interactive requests end to end: context -> image -> mask source -> one brush result.

One mask source per worker process (``INTERACTIVE_SOURCE``: SAM when a checkpoint is set, else
the offline fallback), built at first use or at preload, with its own byte-bounded embedding
cache (``INTERACTIVE_CACHE_MB``). The decoded task images are kept too (a quarter of that
budget, by task and URL), so a later click on the same task neither downloads nor decodes. A SAM that cannot be loaded leaves the fallback in use and a
note in ``/health``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import numpy as np
from PIL import Image

from ml_backend.controls.interactive import (
    InteractiveError,
    brush_answer,
    brush_control,
    parse_context,
    shape_hint,
)
from ml_backend.controls.label_config import parse_label_config
from ml_backend.settings import Settings
from model_zoo.device import resolve_device
from model_zoo.interactive.cache import ByteLRU
from model_zoo.interactive.prompts import PromptError
from model_zoo.interactive.registry import build_source, default_source
from model_zoo.sam.refiner import sam_note

log = logging.getLogger(__name__)
MODEL_VERSION_PREFIX = "interactive-"


class InteractiveService:
    def __init__(self, settings: Settings, fetcher):
        self.settings = settings
        self.fetcher = fetcher
        self._source = None
        self._note: str | None = None
        self._lock = threading.Lock()
        self.images = ByteLRU(settings.interactive_cache_mb * 1024 * 1024 // 4)

    def wanted(self) -> str:
        if self.settings.interactive_source != "auto":
            return self.settings.interactive_source
        return default_source(self.settings.sam_checkpoint, self.settings.sam_model_type)

    def source(self):
        with self._lock:
            if self._source is None:
                self._source = self._build()
            return self._source

    def _build(self):
        s = self.settings
        options = {
            "sam_checkpoint": s.sam_checkpoint,
            "sam_model_type": s.sam_model_type,
            "device": str(resolve_device(s.device)),
        }
        cache_bytes = s.interactive_cache_mb * 1024 * 1024
        name = self.wanted()
        if name == "sam":
            try:
                return build_source("sam", cache_bytes, **options)
            except Exception as exc:  # keep answering with the fallback; /health says why
                self._note = f"interactive masks use the fallback: SAM did not load ({exc})"
                log.error("%s", self._note)
        elif s.interactive_source == "sam":
            self._note = sam_note(s.sam_checkpoint, s.sam_model_type)
        return build_source("fallback", cache_bytes, **options)

    def status(self) -> dict:
        loaded = self._source
        return {
            "source": loaded.name if loaded is not None else self.wanted(),
            "loaded": loaded is not None,
            "note": self._note,
            "cache": loaded.cache.stats() if loaded is not None else None,
            "image_cache": self.images.stats(),
        }

    def predict(self, task: dict, label_config: str, context: dict) -> dict:
        """One Label Studio prediction (``{"result": [brush], "score", "model_version"}``)."""
        started = time.perf_counter()
        request = parse_context(context)
        if request is None:
            raise InteractiveError("context.result is empty: nothing to segment")
        interface = parse_label_config(label_config)
        control = brush_control(interface, request)
        to_name = request.to_name or control.to_name[0]
        image = self._image(interface, task, to_name)
        source = self.source()
        prompts = request.prompts(*image.size)
        fetched = time.perf_counter()
        try:
            found = source.segment(
                image,
                prompts,
                key=_task_image_key(task, task["data"][self._data_key(interface, to_name)]),
                shape=shape_hint(control, request.label),
            )
        except PromptError as exc:
            raise InteractiveError(str(exc)) from None
        done = time.perf_counter()
        log.info(
            "interactive %s for task %s: %d prompt(s), fetch %.0f ms, mask %.0f ms (%s)",
            request.label,
            task.get("id"),
            len(request.regions),
            1000 * (fetched - started),
            1000 * (done - fetched),
            found.source,
        )
        item = brush_answer(control, to_name, found.mask, request.label, found.score)
        return {
            "result": [item],
            "score": found.score,
            "model_version": MODEL_VERSION_PREFIX + found.source,
        }

    @staticmethod
    def _data_key(interface, to_name: str) -> str:
        for obj in interface.objects:
            if obj.name == to_name:
                return obj.value.lstrip("$")
        raise InteractiveError(f"the label config has no <Image name={to_name!r}>")

    def _image(self, interface, task, to_name: str):
        data = task.get("data") if isinstance(task, dict) else None
        key = self._data_key(interface, to_name)
        if not isinstance(data, dict) or not isinstance(data.get(key), str):
            raise InteractiveError(f"the task has no image URL in data[{key!r}]")
        task_id = task.get("id") if isinstance(task.get("id"), int) else None

        def fetch() -> np.ndarray:
            return np.asarray(self.fetcher.fetch_image(data[key], task_id=task_id))

        return Image.fromarray(self.images.get_or_compute(_task_image_key(task, data[key]), fetch))


def _task_image_key(task: dict, url: str) -> str:
    """Task id and a digest of the image URL (data URLs can be megabytes long)."""
    return f"{task.get('id')}:{hashlib.sha256(url.encode()).hexdigest()[:32]}"
