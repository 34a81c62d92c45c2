"""Tasks in, Label Studio predictions out.

For each control tag of the label config that a handler serves (``CONTROL_HANDLERS``), the
task images are fetched once (in parallel, each failure confined to its task), handed to the
handlers in batches, and the regions they return are validated against the parsed config
before they leave. A task whose image cannot be used gets no prediction (an empty list, which
Label Studio accepts) and its reason is logged and returned in ``errors``. Controls that are not
``ready()`` (a classifier before its project's first trained version) are left out; when none is
ready every task gets no prediction and ``note`` says why.

Memory is bounded per request: tasks go in groups of ``PREDICT_BATCH_SIZE`` whose encoded bytes
are fetched first; their images are decoded in parts of at most ``PREDICT_PIXEL_BUDGET`` pixels
(sizes read from the headers), and a part's decoded images are dropped before the next part is
decoded. At most ``PREDICT_CONCURRENCY`` predictions run at once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ml_backend.controls import CONTROL_HANDLERS, ControlHandler, handler_class
from ml_backend.controls.label_config import (
    LabelConfigError,
    image_objects,
    parse_label_config,
    tag_flag,
)
from ml_backend.images.decode import pixel_count
from ml_backend.images.fetcher import ImageFetcher, ImageFetchError
from ml_backend.serving.model_cache import ModelCache
from ml_backend.serving.shared_pass import run_shared_passes
from ml_backend.settings import Settings

log = logging.getLogger(__name__)

SERVED_TAGS_HINT = (
    'fm-inspect pre-labels images: it needs an <Image name="image" value="$image"/> tag and a '
    'control tag that labels it, e.g. <Choices name="defect" toName="image" choice="single">'
    '<Choice value="Crack"/>...</Choices> (see label_config/defects.xml). Served control tags: '
)


@dataclass
class Fetched:
    """The encoded image bytes of a batch of tasks by task index and data key, and the tasks
    that failed (their reason). Encoded images are small: decoding waits for the pixel budget."""

    raw: dict[int, dict]
    errors: dict[int, str]


@dataclass
class PredictOutcome:
    results: list[Any]
    errors: list[dict] = field(default_factory=list)
    model_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why no task got a prediction (no trained version yet)


class Predictor:
    def __init__(self, settings: Settings, models: ModelCache, fetcher: ImageFetcher):
        self.settings = settings
        self.models = models
        self.fetcher = fetcher
        self._pool = ThreadPoolExecutor(
            max_workers=settings.fetch_threads, thread_name_prefix="fetch"
        )
        self._slots = threading.BoundedSemaphore(settings.predict_concurrency)

    def handlers(
        self, label_config: str, project: str | None = None
    ) -> tuple[Any, list[ControlHandler]]:
        """Parse the config and build a handler for every control we can serve."""
        interface = parse_label_config(label_config)
        handlers: list[ControlHandler] = []
        for control in interface.controls:
            handler_cls = handler_class(control)
            if handler_cls is None or tag_flag(control, "model_skip"):
                continue
            for image in image_objects(control):
                handler = handler_cls(control, image, self.settings, self.models)
                handler.project = project
                handlers.append(handler)
        if not handlers:
            tags = sorted(
                {f"<{c.tag}>" for c in interface.controls}
                | {f"<{o.tag}>" for o in interface.objects}
            )
            raise LabelConfigError(
                f"nothing in this label config can be pre-labeled (it has {', '.join(tags) or 'no tags'}). "
                + SERVED_TAGS_HINT
                + ", ".join(f"<{t}>" for t in CONTROL_HANDLERS)
            )
        return interface, handlers

    @staticmethod
    def combined_version(handlers: list[ControlHandler]) -> str:
        versions = list(dict.fromkeys(h.model_version for h in handlers))
        return "+".join(versions)

    def setup(self, label_config: str, project: str | None = None) -> str:
        """Check that the config can be served and return the model version predictions carry."""
        _, handlers = self.handlers(label_config, project)
        for handler in handlers:
            handler.check()
        return self.combined_version(handlers)

    def _fetch(self, url: Any, task_id: Any) -> Image.Image:
        if not isinstance(url, str) or not url.strip():
            raise ImageFetchError(
                f"the image URL is empty or not a string: {url!r}", reason="bad_url"
            )
        return self.fetcher.fetch_image(
            url.strip(), task_id=task_id if isinstance(task_id, int) else None
        )

    def fetch_images(self, jobs: list[tuple[Any, Any]]) -> list[Image.Image | str]:
        """Fetch ``(url, task_id)`` pairs in parallel: each an image, or the reason it failed."""
        return self._collect([self._pool.submit(self._fetch, u, t) for u, t in jobs])

    def _fetch_bytes(self, url: Any, task_id: Any) -> tuple[str, bytes]:
        if not isinstance(url, str) or not url.strip():
            raise ImageFetchError(
                f"the image URL is empty or not a string: {url!r}", reason="bad_url"
            )
        url = url.strip()
        return url, self.fetcher.fetch_bytes(
            url, task_id=task_id if isinstance(task_id, int) else None
        )

    def fetch_bytes(self, jobs: list[tuple[Any, Any]]) -> list[tuple[str, bytes] | str]:
        """Fetch ``(url, task_id)`` pairs in parallel: each ``(url, bytes)``, or the reason it
        failed (encoded images are small; decoding waits for the pixel budget)."""
        return self._collect([self._pool.submit(self._fetch_bytes, u, t) for u, t in jobs])

    @staticmethod
    def _collect(futures) -> list:
        out: list = []
        for future in futures:
            try:
                out.append(future.result())
            except ImageFetchError as exc:
                out.append(str(exc))
            except Exception as exc:  # never let one image take the batch down
                log.exception("unexpected error fetching an image")
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    def shared_passes(self, handlers, images: dict, ready: list[int]) -> list:
        """Per handler, the shared classifier pass it may use (None: its own)."""
        if not ready:
            return [None] * len(handlers)
        try:
            requests = [(h.pass_request(), h.image_key) for h in handlers]
            return run_shared_passes(
                requests,
                lambda key: [images[(i, key)] for i in ready],
                batch=self.settings.predict_batch_size,
            )
        except Exception:  # each handler then runs (and reports) its own pass
            log.exception("the shared classifier pass failed; controls run their own")
            return [None] * len(handlers)

    def fetch_tasks(self, tasks: list[dict], keys: list[str]) -> Fetched:
        """Every image of ``tasks`` fetched once, in parallel (not decoded); failures stay with
        their task. A bulk job fetches the next batch while this one computes (:meth:`prefetch`)."""
        errors: dict[int, str] = {}
        urls = self._image_urls(tasks, keys, errors)
        return Fetched(self._fetch_group(urls, errors), errors)

    def prefetch(self, tasks: list[dict], label_config: str, project: str | None = None) -> Fetched:
        """What :meth:`predict` would fetch for ``tasks``; pass it back as ``prefetched``."""
        _, handlers = self.handlers(label_config, project)
        return self.fetch_tasks(tasks, list(dict.fromkeys(h.image_key for h in handlers)))

    def predict(
        self,
        tasks: list[dict],
        label_config: str,
        project: str | None = None,
        prefetched: Fetched | None = None,
    ) -> PredictOutcome:
        """Predictions for ``tasks``: one entry per task, in order (``[]`` for a task whose image
        cannot be used, its reason in ``errors``).

        The tasks go in groups of ``PREDICT_BATCH_SIZE``: a group's image bytes are fetched in
        parallel, then decoded and predicted in parts whose decoded pixels fit
        ``PREDICT_PIXEL_BUDGET``; each part's images are dropped before the next is decoded."""
        started = time.perf_counter()
        interface, handlers = self.handlers(label_config, project)
        version = self.combined_version(handlers)
        handlers = [h for h in handlers if h.ready()]
        if not handlers:  # nothing learned yet: no prediction rather than random ones
            log.info("no prediction for %d task(s): %s", len(tasks), version)
            return PredictOutcome([[] for _ in tasks], [], version, {"total_s": 0.0}, version)
        keys = list(dict.fromkeys(h.image_key for h in handlers))
        errors: dict[int, str] = dict(prefetched.errors) if prefetched else {}
        urls = self._image_urls(tasks, keys, errors)
        regions: dict[int, list] = {i: [] for i in urls}
        timings = {"fetch_s": 0.0, "predict_s": 0.0}
        with self._slots:  # PREDICT_CONCURRENCY requests at once per process
            ready = list(urls)
            size = self.settings.predict_batch_size
            for start in range(0, len(ready), size):
                group = {i: urls[i] for i in ready[start : start + size] if i not in errors}
                self._predict_group(handlers, group, regions, errors, timings, prefetched)
        results = [
            self._result(interface, tasks[i], regions.get(i, []), errors.get(i), version)
            for i in range(len(tasks))
        ]
        timings["total_s"] = time.perf_counter() - started
        return PredictOutcome(
            results=results,
            errors=[
                {"index": i, "task": _task_id(tasks[i]), "error": e}
                for i, e in sorted(errors.items())
            ],
            model_version=version,
            timings=timings,
        )

    @staticmethod
    def _image_urls(tasks: list, keys: list[str], errors: dict[int, str]) -> dict[int, dict]:
        """Per usable task, its image URL per data key; the others get their reason in errors."""
        urls: dict[int, dict] = {}
        for index, task in enumerate(tasks):
            data = task.get("data") if isinstance(task, dict) else None
            if not isinstance(data, dict):
                errors[index] = "the task has no 'data' object"
                continue
            missing = [key for key in keys if key not in data]
            if missing:
                errors[index] = f"the task has no {missing[0]!r} in its data (keys: {sorted(data)})"
                continue
            urls[index] = {key: (data[key], task.get("id")) for key in keys}
        return urls

    def _fetch_group(self, group: dict, errors: dict) -> dict[int, dict]:
        """One group's image bytes by task index and key; failures go to ``errors``."""
        wanted = [(i, key) for i, by_key in group.items() for key in by_key]
        fetched = self.fetch_bytes([group[i][key] for i, key in wanted])
        raw: dict[int, dict] = {}
        for (index, key), got in zip(wanted, fetched, strict=True):
            if isinstance(got, str):
                errors.setdefault(index, got)
            elif index not in errors:
                raw.setdefault(index, {})[key] = got
        return raw

    def _predict_group(
        self, handlers, group: dict, regions, errors, timings, prefetched=None
    ) -> None:
        """Fetch one group's bytes (unless prefetched), then decode and predict it part by part
        (pixel budget)."""
        started = time.perf_counter()
        if prefetched is not None:
            raw = {i: prefetched.raw[i] for i in group if i in prefetched.raw}
        else:
            raw = self._fetch_group(group, errors)
        timings["fetch_s"] += time.perf_counter() - started
        for part in pixel_parts(raw, self.settings.predict_pixel_budget):
            started = time.perf_counter()
            images = self._decode_part(part, raw, errors)
            timings["fetch_s"] += time.perf_counter() - started
            started = time.perf_counter()
            self._run_handlers(
                handlers, images, [i for i in part if i not in errors], regions, errors
            )
            del images  # this part's pixels go before the next part is decoded
            timings["predict_s"] += time.perf_counter() - started
        raw.clear()

    def _decode_part(self, part: list[int], raw: dict, errors: dict) -> dict:
        images: dict[tuple[int, str], Image.Image] = {}
        for index in part:
            for key, (url, data) in raw[index].items():
                try:
                    images[(index, key)] = self.fetcher.decode(url, data)
                except ImageFetchError as exc:
                    errors.setdefault(index, str(exc))
            raw[index] = {}  # the encoded bytes are no longer needed
        return images

    def _run_handlers(self, handlers, images: dict, ready: list[int], regions, errors) -> None:
        """Each handler predicts the ready tasks in one batch; controls reading the same
        classifier share one forward pass (Choices + CAM masks)."""
        first_ready = list(ready)
        shared = self.shared_passes(handlers, images, first_ready)
        for handler, handler_shared in zip(handlers, shared, strict=True):
            ready = [i for i in first_ready if i not in errors]
            if not ready:
                break
            if ready != first_ready:
                handler_shared = None  # an earlier control failed on some tasks: own pass
            try:
                batch = handler.predict(
                    [images[(i, handler.image_key)] for i in ready], shared=handler_shared
                )
            except Exception as exc:
                log.exception("%s %r failed", type(handler).__name__, handler.control.name)
                for i in ready:
                    errors.setdefault(
                        i, f"<{handler.control.tag} name={handler.control.name!r}> failed: {exc}"
                    )
                continue
            for i, found in zip(ready, batch, strict=True):
                regions[i].extend(found)

    @staticmethod
    def _result(interface, task, regions: list, error: str | None, version: str):
        """One task's prediction, its regions validated against the label config."""
        if error is not None:
            log.warning("task %s gets no prediction: %s", _task_id(task), error)
            return []
        valid = []
        for region in regions:
            problems = interface.validate_region(region.item, return_errors=True)
            if problems:
                log.error("dropping a region that does not fit the label config: %s", problems)
                continue
            valid.append(region)
        score = sum(r.score for r in valid) / len(valid) if valid else None
        return {"result": [r.item for r in valid], "score": score, "model_version": version}


def _task_id(task: Any) -> Any:
    return task.get("id") if isinstance(task, dict) else None


def pixel_parts(raw: dict[int, dict], budget: int) -> list[list[int]]:
    """Task indices in consecutive parts whose images (pixel counts read from the headers) add up
    to at most ``budget``; an image alone over the budget forms a part of its own."""
    parts: list[list[int]] = []
    used = budget + 1
    for index, by_key in raw.items():
        pixels = sum(pixel_count(data) for _url, data in by_key.values())
        if used + pixels > budget:
            parts.append([])
            used = 0
        parts[-1].append(index)
        used += pixels
    return parts
