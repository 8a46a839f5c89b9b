"""Checks on every API request before its view runs: text the database cannot store.

PostgreSQL text cannot hold NUL characters; letting one through turns a client's mistake into
a database error (500). A NUL anywhere in the query string or a JSON body is refused at the
door with a 422 problem instead.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import UnprocessableEntity

__all__ = ["refuse_nul_characters"]


def refuse_nul_characters() -> None:
    """``before_request`` of every API blueprint (after authentication)."""
    if _query_has_nul():
        raise UnprocessableEntity("The query string contains a NUL character.")
    if request.is_json:
        raw = request.get_data(cache=True)
        # Cheap pre-check on the raw text; only then parse and look properly.
        if (b"\\u0000" in raw or b"\x00" in raw) and _has_nul(request.get_json(silent=True)):
            raise UnprocessableEntity("The JSON body contains a NUL character.")


def _query_has_nul() -> bool:
    return any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
