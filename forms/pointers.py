"""JSON Pointers (RFC 6901): the addresses field errors and schema problems are reported at."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["MISSING", "pointer", "resolve_pointer", "unescape"]

#: Returned by ``resolve_pointer`` when the pointer leads nowhere (``None`` is a JSON value).
MISSING: Any = object()


def pointer(path: Iterable[str | int]) -> str:
    """Build a JSON Pointer from path segments: ``["contacts", 0, "email"]`` ->
    ``"/contacts/0/email"``; the empty path is ``""`` (the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def unescape(segment: str) -> str:
    """Undo RFC 6901 escaping of one segment (order matters: ``~1`` before ``~0``)."""
    return segment.replace("~1", "/").replace("~0", "~")


def resolve_pointer(document: Any, ptr: str) -> Any:
    """Return the value ``ptr`` points at in ``document``, or ``MISSING``."""
    if ptr == "":
        return document
    if not ptr.startswith("/"):
        return MISSING
    node = document
    for raw in ptr[1:].split("/"):
        segment = unescape(raw)
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return MISSING
    return node
