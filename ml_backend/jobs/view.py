"""Every job in one shape, for ``/jobs`` and ``/health``: training rounds (with their
re-prediction and queue round) and bulk pre-labels, whichever thread or RQ worker ran them.

``{"id", "kind", "project", "state", "stage", "progress", "counts", "model_version", "error",
"updated_at"}``: ``kind`` is ``train`` or ``prelabel``; ``state`` one of ``queued``, ``running``,
``succeeded``, ``failed``, ``skipped``; ``progress`` 0..1; ``counts`` the task counts of a
pre-label (``pushed``, ``skipped``, ``failed``, ``predicted``), or of a round's re-prediction.
"""

from __future__ import annotations

SHAPE = ("id", "kind", "project", "state", "stage", "progress", "counts", "model_version",
         "error", "updated_at")  # fmt: skip


def training_job(record: dict) -> dict:
    repredict = record.get("repredict") or {}
    return {
        "id": f"train-{record.get('project')}",
        "kind": "train",
        "project": record.get("project"),
        "state": record.get("state"),
        "stage": record.get("stage"),
        "progress": record.get("progress"),
        "counts": repredict.get("counts") or {},
        "model_version": record.get("live_version"),
        "error": record.get("error"),
        "updated_at": record.get("updated_at"),
        "queue": (record.get("queue") or {}).get("state"),
        "repredict_job": repredict.get("job"),
    }


def prelabel_job(summary: dict) -> dict:
    counts = summary.get("counts") or {}
    total = int(summary.get("total") or 0)
    done = sum(int(counts.get(k, 0)) for k in ("pushed", "skipped", "failed"))
    chunks = summary.get("chunk_states") or {}
    return {
        "id": summary.get("id"),
        "kind": "prelabel",
        "project": summary.get("project"),
        "state": summary.get("state"),
        "stage": f"{chunks.get('done', 0)}/{summary.get('chunks', 0)} chunks done",
        "progress": round(min(1.0, done / total), 4) if total else 1.0,
        "counts": counts,
        "model_version": summary.get("model_version"),
        "error": summary.get("error"),
        "updated_at": summary.get("updated_at"),
        "mode": summary.get("mode"),
        "total": total,
        "chunk_states": chunks,
    }


def job_list(state) -> list[dict]:
    jobs = [training_job(r) for r in state.scheduler.records.all()]
    jobs += [prelabel_job(s) for s in state.prelabel.jobs()]
    return sorted(jobs, key=lambda j: -(j.get("updated_at") or 0))
