"""Shared test set-up: no network, no writes into the home directory."""

from __future__ import annotations

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="fm-inspect-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_tmp, "mpl"))
os.environ.setdefault("HF_HOME", os.path.join(_tmp, "hf"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
