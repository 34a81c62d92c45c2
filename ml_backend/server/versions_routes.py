"""``GET /versions`` (every version, ``?project=ID`` for one project) and ``POST /versions/live``
(rollback or forward: ``{"project": 3, "version": "p3-v1"}``)."""

from __future__ import annotations

import re

from flask import Flask, jsonify, request

from ml_backend.controls.brush_segmentation import mask_source_of
from ml_backend.server import fields
from ml_backend.server.errors import BadRequest
from ml_backend.serving.project_state import project_status
from ml_backend.serving.versions import make_live, trained_versions

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def register(app: Flask, state) -> None:
    pattern = state.settings.project_id_pattern

    @app.get("/versions")
    def versions():
        """Every version: the configured model and each project's trained versions (live
        marked). Label Studio reads ``versions``."""
        wanted = fields.project_id(request.args.get("project"), pattern)
        trained = [
            {**info.as_dict(), "mask_source": mask_source_of(info.meta)}
            for info in trained_versions(state.models.store, wanted)
        ]
        for item in trained:
            item.pop("history", None)
            item.pop("path", None)
        names = [t["version"] for t in trained]
        if not wanted and state.default_version:
            names.insert(0, state.default_version)
        body = {"versions": names, "details": trained}
        if wanted:
            body["state"] = project_status(state.settings, state.models.store, wanted)
        return jsonify(body)

    @app.post("/versions/live")
    def set_live_version():
        body = fields.json_body()
        project = fields.project_id(body.get("project"), pattern, required=True)
        version = body.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            raise BadRequest(
                'send {"project": <id>, "version": "<version name>"} (GET /versions lists them)'
            )
        make_live(state.models.store, project, version)
        return jsonify({"project": project, "live": version})
