"""``POST /jobs/prelabel``, ``GET /jobs``, ``GET /jobs/<id>``: bulk jobs over HTTP.

``POST /jobs/prelabel {"project": 3, "mode": "unlabeled"|"all", "model_version": "..."}``
plans the job (lists the project's tasks) and answers 202 with its summary; the chunks run in
the background (a thread, or RQ workers with ``REDIS_URL``). Starting the same job again
continues it. Basic auth applies as on every route (the app's ``before_request`` hook).
"""

from __future__ import annotations

from flask import Flask, jsonify

from ml_backend.jobs.prelabel import MODES, PrelabelError
from ml_backend.jobs.view import job_list
from ml_backend.labelstudio.retries import LabelStudioUnavailable
from ml_backend.server import fields, metrics
from ml_backend.server.errors import error_response as error


def job_gauges(jobs: list[dict]) -> None:
    for job in jobs:
        counts = job.get("counts", {})
        done = sum(counts.get(k, 0) for k in ("pushed", "skipped", "failed"))
        metrics.PRELABEL_REMAINING.labels(job=job["id"]).set(max(0, job.get("total", 0) - done))


def short(job: dict) -> dict:
    return {k: v for k, v in job.items() if k not in {"label_config", "errors"}}


def register(app: Flask, state) -> None:
    @app.post("/jobs/prelabel")
    def start_prelabel():
        body = fields.json_body()
        project = fields.numeric_project(body.get("project"), state.settings.project_id_pattern)
        mode = body.get("mode", "unlabeled")
        version = body.get("model_version")
        if (
            not isinstance(mode, str)
            or mode not in MODES
            or (version is not None and not isinstance(version, str))
        ):
            return error(400, f"'mode' is one of {list(MODES)}; 'model_version' a string")
        try:
            job = state.prelabel.start(project, mode, version)
        except PrelabelError as exc:
            return error(409, str(exc))
        except LabelStudioUnavailable as exc:
            return error(503, str(exc))
        except RuntimeError as exc:  # LABEL_STUDIO_URL/API key missing, 4xx from Label Studio
            return error(400, str(exc))
        except Exception as exc:  # Redis unreachable and the like
            return error(503, f"the job could not be queued: {type(exc).__name__}: {exc}")
        return jsonify(short(job)), 202

    @app.get("/jobs")
    def list_jobs():
        job_gauges(state.prelabel.jobs())
        return jsonify({"jobs": job_list(state), "training": state.scheduler.status()})

    @app.get("/jobs/<job_id>")
    def show_job(job_id: str):
        try:
            job = state.prelabel.job(job_id)
        except ValueError as exc:
            return error(400, str(exc))
        if not job:
            return error(404, f"no job {job_id!r}; GET /jobs lists them")
        return jsonify({k: v for k, v in job.items() if k != "label_config"})
