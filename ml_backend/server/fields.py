"""One validation of what a request sends: the JSON body and the fields routes read from it.

Every route reads its body with :func:`json_body` and its fields with the functions here, so a
value we cannot use is refused once, the same way, with 400 and a message naming the field,
before it reaches the model store, the scheduler or a model:

* the body: valid JSON, an object, nested at most :data:`MAX_JSON_DEPTH` deep, no integer
  longer than :data:`MAX_INT_DIGITS` digits (Python refuses 4300+ digits with a ValueError);
* a project id: Label Studio's numeric id (``3``, ``"3"``, ``"3.1700000000"`` as /setup and
  /predict send it, ``{"id": 3}`` as webhooks send it) or, if ``PROJECT_ID_PATTERN`` is set, a
  text matching it in full and made of letters, digits, ``_`` and ``-``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from ml_backend.server.errors import BadRequest

MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 64
_NUMERIC = re.compile(r"^[1-9][0-9]{0,17}(?:\.[0-9]{1,20})?$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(
            f"the request body has an integer of {len(text)} digits (at most {MAX_INT_DIGITS})"
        )
    return int(text)


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object within the limits above, else :class:`BadRequest`."""
    if not raw:
        raise BadRequest("the request body is empty: send a JSON object")
    try:
        body = json.loads(raw, parse_int=_parse_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(
            f"the request body is nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    if _too_deep(body):
        raise BadRequest(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def json_body() -> dict[str, Any]:
    """The current request's body (see :func:`parse_json`)."""
    return parse_json(request.get_data(cache=True))


def project_id(value: Any, pattern: str = "", *, required: bool = False) -> str | None:
    """A request's project id as the text the model store and the scheduler use, or None if
    absent (400 if ``required``). ``"3.1700000000"`` (Label Studio's ``id.timestamp``) → ``"3"``."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        if required:
            raise BadRequest(_project_hint(pattern, "is missing"))
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise BadRequest(_project_hint(pattern, f"is a {type(value).__name__}"))
    if len(text) <= 40 and _NUMERIC.match(text):
        return text.split(".", 1)[0]
    if pattern and _SAFE_ID.match(text) and re.fullmatch(pattern, text):
        return text
    raise BadRequest(_project_hint(pattern, "is not a project id"))


def _project_hint(pattern: str, problem: str) -> str:
    extra = f" or a text matching PROJECT_ID_PATTERN ({pattern})" if pattern else ""
    return (
        f"'project' {problem}: send the Label Studio project id, a positive integer "
        f'("3" or "3.1700000000" as Label Studio sends it){extra}'
    )


def numeric_project(value: Any, pattern: str = "") -> int:
    """A project id that names a Label Studio project (its API takes integers only)."""
    text = project_id(value, pattern, required=True)
    if not text.isdigit():
        raise BadRequest(f"'project' {text!r} is not a Label Studio project: send its numeric id")
    return int(text)


def text_field(body: dict, *names: str, required: bool = False, what: str = "") -> str | None:
    """The first of ``names`` present in ``body``; it must be a string."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"'{name}' must be a string{what}, not {type(value).__name__}")
        return value
    if required:
        raise BadRequest(f"the request needs '{names[0]}'{what}")
    return None


def label_config(body: dict) -> str | None:
    """``label_config`` (or Label Studio's ``schema``): the project's XML, if sent."""
    return text_field(body, "label_config", "schema", what=" (the project's label config XML)")


def tasks(body: dict) -> list:
    value = body.get("tasks")
    if not isinstance(value, list):
        raise BadRequest("the request needs 'tasks': a list of Label Studio tasks")
    if not value:
        raise BadRequest("'tasks' is empty: there is nothing to predict")
    return value
