"""How a setting is declared, parsed and documented (the declarations are in settings.py).

A :class:`Setting` names the environment variable, the field of ``Settings`` it fills, the
parser of its text, its default, the concern it belongs to and its help. From the list of them
``settings.py`` derives the ``Settings`` dataclass and ``Settings.from_env``, and
:func:`markdown_table` the configuration table of the documentation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


@dataclass(frozen=True)
class Parser:
    """Text -> value. ``kind`` is the field's type; ``parse(name, text)`` raises SettingsError."""

    kind: Any
    parse: Callable[[str, str], Any]


@dataclass(frozen=True)
class Setting:
    env: str
    field: str
    parser: Parser
    default: str
    help: str
    fallbacks: tuple[str, ...] = ()
    concern: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def raw(self, env: Mapping[str, str]) -> str:
        """The first non-blank value of the variable or its fallbacks, else the default."""
        for key in (self.env, *self.fallbacks):
            value = env.get(key)
            if value is not None and value.strip() != "":
                return value.strip()
        return self.default

    def read(self, env: Mapping[str, str]) -> Any:
        return self.parser.parse(self.env, self.raw(env))


def concern(name: str, *settings: Setting) -> list[Setting]:
    """The settings of one concern (a section of the configuration table)."""
    return [replace(s, concern=name) for s in settings]


def text(transform: Callable[[str], str] | None = None) -> Parser:
    return Parser(str, lambda _name, raw: transform(raw) if transform else raw)


def path() -> Parser:
    return Parser(Path, lambda _name, raw: Path(raw).expanduser())


def url() -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must start with http:// or https://, not {value!r}")
        return value

    return Parser(str, parse)


def integer(minimum: int = 0) -> Parser:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, not {value}")
        return value

    return Parser(int, parse)


def number(low: float, high: float) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
        return value

    return Parser(float, parse)


def boolean() -> Parser:
    def parse(name: str, raw: str) -> bool:
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name} must be true or false, not {raw!r}")

    return Parser(bool, parse)


def one_of(*choices: str, transform: Callable[[str], str] = str.upper) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = transform(raw)
        if value not in choices:
            raise SettingsError(f"{name} must be {', '.join(choices)}, not {value!r}")
        return value

    return Parser(str, parse)


def pattern() -> Parser:
    """A regular expression (empty: none); a pattern that does not compile stops start-up."""

    def parse(name: str, raw: str) -> str:
        try:
            re.compile(raw)
        except re.error as exc:
            raise SettingsError(
                f"{name} is not a valid regular expression ({exc}): {raw!r}"
            ) from None
        return raw

    return Parser(str, parse)


def csv(lower: bool = False) -> Parser:
    def parse(_name: str, raw: str) -> tuple[str, ...]:
        items = (item.strip() for item in raw.split(","))
        return tuple(item.lower() if lower else item for item in items if item)

    return Parser(tuple[str, ...], parse)


def markdown_table(settings: Iterable[Setting]) -> str:
    """The configuration table: one section per concern, one row per variable."""
    lines: list[str] = []
    current = None
    for s in settings:
        if s.concern != current:
            current = s.concern
            lines += [
                "",
                f"### {current}",
                "",
                "| variable | default | meaning |",
                "| --- | --- | --- |",
            ]
        names = f"`{s.env}`" + "".join(f" (or `{f}`)" for f in s.fallbacks)
        default = f"`{s.default}`" if s.default else "—"
        lines.append(f"| {names} | {default} | {s.help} |")
    return "\n".join(lines).strip() + "\n"
