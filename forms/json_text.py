"""Parsing the text of a form file into JSON, with errors that say where the text is wrong."""

from __future__ import annotations

import json
from typing import Any

from forms.errors import FormFileError

__all__ = ["json_type_name", "parse_json"]


def parse_json(raw: bytes | str) -> Any:
    """Parse ``raw`` as JSON text; raise ``FormFileError`` with line and column if it is not.

    Bytes must be UTF-8; a leading byte order mark is tolerated because Windows editors add
    one and it carries no meaning in JSON files.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormFileError(
                f"The file is not UTF-8 text (bad byte at offset {exc.start})."
            ) from exc
    else:
        text = raw.removeprefix("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormFileError(
            f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            line=exc.lineno,
            column=exc.colno,
        ) from exc


def json_type_name(value: Any) -> str:
    """Name the JSON type of a parsed value the way the JSON Schema spec does."""
    # bool first: in Python it is a subclass of int.
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return type(value).__name__
