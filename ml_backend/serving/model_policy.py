"""What a label config (or ``POST /setup``) may make the backend load.

A control tag's ``model_name`` comes from whoever can edit a project's label config. Before any
model is looked up, :meth:`ModelPolicy.admit` checks it against the allow-list:

* a zoo name (``python -m model_zoo list``);
* a folder under ``MODEL_DIR`` (trained versions, ``MODEL_DIR/zoo/<name>``, or a path whose real
  location, symlinks resolved, is inside ``MODEL_DIR``) or under an ``ALLOWED_MODEL_DIRS`` folder;
* a hub id matching ``ALLOWED_HUB_MODELS`` (a regular expression, matched in full);
* the models the operator configured (``CLASSIFIER_MODEL``, ``CLIPSEG_MODEL``).

Everything else is refused with the same message whether or not such a path exists, so a
request cannot probe the file system. A zoo entry that is built on first use by minutes of
pretraining is never built here: the request is told how to build it (entries whose build only
converts packaged weights, ``quick_build``, such as ``efficientnet-lite0``, are built on use).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from model_zoo.loading import ModelLoadError
from model_zoo.registry import ZOO

BUILD_COMMAND = "python -m model_zoo pretrain --default"


class ModelNotAllowed(ModelLoadError):
    """The name is outside the allow-list (a 400: the label config must change)."""


class ModelNotBuilt(ModelLoadError):
    """A zoo entry built on first use that nobody built yet (a 503: build it, then retry)."""


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


class ModelPolicy:
    def __init__(self, settings):
        self.model_dir = Path(settings.model_dir).expanduser()
        self.roots = [
            self.model_dir,
            *(Path(os.path.expanduser(d)) for d in settings.allowed_model_dirs),
        ]
        self.trusted = {
            settings.classifier_model.strip(),
            settings.clipseg_model.strip(),
            settings.zero_shot_model.strip(),
        } - {""}
        self.hub = settings.allowed_hub_models

    def admit(self, name: str) -> None:
        """Return if ``name`` may be loaded; else :class:`ModelNotAllowed`/:class:`ModelNotBuilt`."""
        text = str(name).strip()
        if text in ZOO:
            self._require_built(text)
        elif text in self.trusted:
            return
        elif not self._allowed(text):
            raise ModelNotAllowed(self.refusal(text))

    def configured(self, name: str) -> bool:
        """A zoo name or a model the operator set: its load errors may say where weights go."""
        text = str(name).strip()
        return text in ZOO or text in self.trusted

    def _allowed(self, text: str) -> bool:
        if not text or "\x00" in text:
            return False
        local = Path(os.path.expanduser(text))
        if _looks_like_path(text) or local.is_dir():  # resolve() would read it from disk
            return self.inside_model_dir(local)
        if "/" not in text:  # a user-made entry MODEL_DIR/zoo/<name>
            entry = self.model_dir / "zoo" / text
            return text not in {".", ".."} and entry.is_dir() and self.inside_model_dir(entry)
        hub_id = text.partition("@")[0]
        return bool(self.hub) and re.fullmatch(self.hub, hub_id) is not None

    def inside_model_dir(self, path: Path) -> bool:
        """Whether ``path``, symlinks resolved, is ``MODEL_DIR`` (or an ``ALLOWED_MODEL_DIRS``
        folder) or inside it."""
        real = os.path.realpath(path)
        for root in map(os.path.realpath, self.roots):
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return True
        return False

    def _require_built(self, name: str) -> None:
        entry = ZOO[name]
        if (
            entry.build_weights is None or entry.quick_build
        ):  # nothing, or a seconds-long conversion
            return
        if (self.model_dir / "zoo" / name / "config.json").is_file():
            return
        raise ModelNotBuilt(
            f"model {name!r} is built on first use by minutes of pretraining, which the backend "
            f"never runs inside a request. Build it once with `{BUILD_COMMAND}` (with the "
            "backend's MODEL_DIR), then retry; or use another model_name."
        )

    def refusal(self, name: str) -> str:
        hub = (
            f"a hub id matching ALLOWED_HUB_MODELS ({self.hub})"
            if self.hub
            else "a hub id allowed by ALLOWED_HUB_MODELS (not set: none)"
        )
        return (
            f"model_name {name[:200]!r} is not allowed here. A label config may name a zoo model "
            f"({', '.join(sorted(ZOO))}), a folder under the backend's MODEL_DIR, or {hub}. "
            "Ask the backend's operator to place the model under MODEL_DIR or allow its hub id."
        )
