"""Tasks in, Label Studio predictions out.

For each control tag of the label config that a handler serves (``CONTROL_HANDLERS``), the
task images are fetched once (in parallel, each failure confined to its task), handed to the
handlers in one batch, and the regions they return are validated against the parsed config
before they leave. A task whose image cannot be used gets no prediction (an empty list, which
Label Studio accepts) and its reason is logged and returned in ``errors``.
"""

from __future__ import annotations

import logging
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
    """The images of a batch of tasks by ``(task index, data key)``, and the failures."""

    images: dict
    errors: dict[int, str]


@dataclass
class PredictOutcome:
    results: list[Any]
    errors: list[dict] = field(default_factory=list)
    model_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)


class Predictor:
    def __init__(self, settings: Settings, models: ModelCache, fetcher: ImageFetcher):
        self.settings = settings
        self.models = models
        self.fetcher = fetcher
        self._pool = ThreadPoolExecutor(
            max_workers=settings.fetch_threads, thread_name_prefix="fetch"
        )

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
        futures = [self._pool.submit(self._fetch, url, task_id) for url, task_id in jobs]
        out: list[Image.Image | str] = []
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
        """Step 1 of :meth:`predict`: every image of ``tasks`` once, in parallel; failures stay
        with their task. Public so that a bulk job can fetch the next batch while this one
        computes (:meth:`prefetch`)."""
        errors: dict[int, str] = {}
        wanted: list[tuple[int, str]] = []
        jobs: list[tuple[Any, Any]] = []
        for index, task in enumerate(tasks):
            data = task.get("data") if isinstance(task, dict) else None
            if not isinstance(data, dict):
                errors[index] = "the task has no 'data' object"
                continue
            missing = [key for key in keys if key not in data]
            if missing:
                errors[index] = f"the task has no {missing[0]!r} in its data (keys: {sorted(data)})"
                continue
            for key in keys:
                wanted.append((index, key))
                jobs.append((data[key], task.get("id")))
        images: dict[tuple[int, str], Image.Image] = {}
        for (index, key), got in zip(wanted, self.fetch_images(jobs), strict=True):
            if isinstance(got, str):
                errors.setdefault(index, got)
            else:
                images[(index, key)] = got
        return Fetched(images, errors)

    def prefetch(self, tasks: list[dict], label_config: str, project: str | None = None) -> Fetched:
        """The images :meth:`predict` would fetch for ``tasks``; pass them as ``prefetched``."""
        _, handlers = self.handlers(label_config, project)
        return self.fetch_tasks(tasks, list(dict.fromkeys(h.image_key for h in handlers)))

    def predict(
        self,
        tasks: list[dict],
        label_config: str,
        project: str | None = None,
        prefetched: Fetched | None = None,
    ) -> PredictOutcome:
        started = time.perf_counter()
        interface, handlers = self.handlers(label_config, project)
        version = self.combined_version(handlers)
        keys = list(dict.fromkeys(h.image_key for h in handlers))

        # 1. fetch every image once, in parallel (unless ``prefetched`` already holds them)
        got = prefetched if prefetched is not None else self.fetch_tasks(tasks, keys)
        images, errors = got.images, dict(got.errors)
        fetched = time.perf_counter()

        # 2. each handler predicts for every task whose images arrived, in one batch; controls
        #    reading the same classifier share one forward pass (Choices + CAM masks)
        regions: dict[int, list] = {i: [] for i in range(len(tasks)) if i not in errors}
        first_ready = list(regions)
        shared = self.shared_passes(handlers, images, first_ready)
        for handler, handler_shared in zip(handlers, shared, strict=True):
            ready = [i for i in regions if i not in errors]
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

        # 3. validate against the config and assemble in task order
        results: list[Any] = []
        for index, task in enumerate(tasks):
            if index in errors:
                task_id = task.get("id") if isinstance(task, dict) else None
                log.warning("task %s gets no prediction: %s", task_id, errors[index])
                results.append([])
                continue
            valid = []
            for region in regions[index]:
                problems = interface.validate_region(region.item, return_errors=True)
                if problems:
                    log.error("dropping a region that does not fit the label config: %s", problems)
                    continue
                valid.append(region)
            score = sum(r.score for r in valid) / len(valid) if valid else None
            results.append(
                {"result": [r.item for r in valid], "score": score, "model_version": version}
            )
        done = time.perf_counter()
        return PredictOutcome(
            results=results,
            errors=[
                {
                    "index": i,
                    "task": tasks[i].get("id") if isinstance(tasks[i], dict) else None,
                    "error": e,
                }
                for i, e in sorted(errors.items())
            ],
            model_version=version,
            timings={
                "fetch_s": fetched - started,
                "predict_s": done - fetched,
                "total_s": done - started,
            },
        )
