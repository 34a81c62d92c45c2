"""The one place that reads the environment: every setting declared once, grouped by concern.

Names follow the Label Studio ecosystem where one exists (``LABEL_STUDIO_URL``,
``LABEL_STUDIO_API_KEY``, ``BASIC_AUTH_USER`` …). ``SETTINGS`` declares each variable once (its
field, parser, default and help) in ``settings_service``, ``settings_masks`` and
``settings_learning``; the ``Settings`` dataclass, ``Settings.from_env`` and the
documentation's configuration table (``python -m ml_backend settings-table``) are derived from
it. How declarations work: :mod:`ml_backend.settings_spec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import make_dataclass
from typing import Any

from ml_backend.settings_learning import LEARNING
from ml_backend.settings_masks import MASKS
from ml_backend.settings_service import SERVICE
from ml_backend.settings_spec import Setting, SettingsError, markdown_table

__all__ = ["SETTINGS", "Settings", "SettingsError", "settings_table"]

_DECLARED: list[Setting] = [*SERVICE, *MASKS, *LEARNING]

SETTINGS: dict[str, Setting] = {s.env: s for s in _DECLARED}


def _from_env(cls, env: Mapping[str, str] | None = None) -> Any:
    """Read every setting from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    return cls(**{s.field: s.read(env) for s in SETTINGS.values()})


def _basic_auth_enabled(self) -> bool:
    return bool(self.basic_auth_user and self.basic_auth_pass)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _bind_host(self) -> str:
    """``HOST``, or when it is empty: loopback without basic auth, every interface with it."""
    if self.host:
        return self.host
    return "0.0.0.0" if self.basic_auth_enabled else "127.0.0.1"


def _is_open(self) -> bool:
    """Whether anyone who reaches the port may use every route (no auth, not loopback)."""
    return not self.basic_auth_enabled and self.bind_host not in LOOPBACK_HOSTS


Settings = make_dataclass(
    "Settings",
    [(s.field, s.parser.kind) for s in SETTINGS.values()],
    frozen=True,
    namespace={
        "__doc__": "The backend's settings, one field per entry of SETTINGS.",
        "__module__": __name__,
        "from_env": classmethod(_from_env),
        "basic_auth_enabled": property(_basic_auth_enabled),
        "bind_host": property(_bind_host),
        "is_open": property(_is_open),
    },
)


def settings_table() -> str:
    """The Markdown configuration table (docs/configuration.md, between its markers)."""
    return markdown_table(SETTINGS.values())


TABLE_START = "<!-- settings-table:start"
TABLE_END = "<!-- settings-table:end -->"


def with_settings_table(page: str) -> str:
    """``page`` with the text between its settings-table markers replaced by the table."""
    start = page.find(TABLE_START)
    end = page.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {TABLE_START} ... {TABLE_END} markers")
    head = page[: page.index("\n", start) + 1]
    return f"{head}\n{settings_table()}\n{page[end:]}"
