"""Every error becomes ``application/problem+json`` (RFC 9457): the only status table.

The engine raises errors without HTTP status (``engine/errors.py``); this module maps them at
the edge, together with HTTP errors (401, 404, 405, 413, request validation) and anything
unexpected. One handler, :func:`handle_error`, answers them all. An unexpected error is a 500
whose body says only "internal error" and the request id; the exception goes to the log with
that id, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException, InternalServerError, Unauthorized

from engine.errors import (
    Conflict,
    ConformanceGaps,
    DeployRejected,
    EngineError,
    FormInvalid,
    InstanceNotRunning,
    InvalidInput,
    NoMatch,
    NotAllowed,
    NotFound,
    ProcessFailed,
    StaleInstance,
    TaskNotReady,
)

__all__ = ["PROBLEM_CONTENT_TYPE", "Unauthenticated", "handle_error", "problem_response"]

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:itsm:problem:"

logger = logging.getLogger(__name__)

# Engine error -> (HTTP status, title). Looked up along the class's MRO, most specific first;
# an engine error missing here is treated as unexpected (500), never guessed.
ENGINE_STATUS: dict[type[EngineError], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    NoMatch: (404, "Nothing takes this message"),
    NotAllowed: (403, "Not allowed"),
    StaleInstance: (409, "The instance changed meanwhile"),
    TaskNotReady: (409, "The task is not open"),
    InstanceNotRunning: (409, "The instance is not running"),
    Conflict: (409, "Conflict"),
    FormInvalid: (422, "The form data is invalid"),
    DeployRejected: (422, "The process model was rejected"),
    ConformanceGaps: (422, "The process model no longer meets requirements it claims"),
    InvalidInput: (422, "Invalid input"),
    ProcessFailed: (422, "The process failed"),
}

# HTTP errors raised by Flask, werkzeug or webargs -> stable code (others: the status name).
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


class Unauthenticated(Unauthorized):
    """No caller: no credentials, or a token that is unknown, revoked or malformed."""

    def __init__(self, token_given: bool) -> None:
        super().__init__("Send 'Authorization: Bearer <token>'." if not token_given
                         else "The bearer token is unknown, revoked or malformed.")
        self.token_given = token_given


def handle_error(error: Exception) -> Response:
    """The one error handler: engine errors, HTTP errors and anything unexpected."""
    if isinstance(error, EngineError):
        return _engine_problem(error)
    if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
        return _http_problem(error)
    return _internal_problem(error)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code,
        "request_id": g.get("request_id", ""),
    }
    if errors is not None:
        body["errors"] = errors
    text = current_app.json.dumps(body, separators=(",", ":"))
    response = Response(text, status=status, mimetype=PROBLEM_CONTENT_TYPE)
    response.headers.update(headers or {})
    return response


def _engine_problem(error: EngineError) -> Response:
    status_title = next(
        (ENGINE_STATUS[cls] for cls in type(error).__mro__ if cls in ENGINE_STATUS), None
    )
    if status_title is None:
        return _internal_problem(error)
    status, title = status_title
    errors: list[dict[str, Any]] | None = None
    if isinstance(error, FormInvalid):
        errors = [{"field": e.field, "message": e.message} for e in error.errors]
    elif isinstance(error, ConformanceGaps):
        errors = [
            {"requirement": g.requirement, "clauses": g.clauses, "message": g.message}
            for g in error.gaps
        ]
    elif isinstance(error, DeployRejected):
        errors = [
            {"file": p.file, "line": p.line, "element_id": p.element_id, "message": p.message}
            for p in error.problems
        ]
    # Engine messages are written for the people calling: plain sentences, no internals.
    return problem_response(status, error.code, title, str(error), errors=errors)


def _http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status) or HTTPStatus(status).name.lower()
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    errors = None
    detail = error.description or HTTPStatus(status).description
    messages = (getattr(error, "data", None) or {}).get("messages")
    if messages:  # webargs: {location: {field: [message, ...]}}
        errors = list(_field_errors(messages))
        detail = f"{len(errors)} problem(s) with the request; see errors."
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = (
            'Bearer realm="itsm", error="invalid_token"' if error.token_given
            else 'Bearer realm="itsm"'
        )
    return problem_response(status, code, HTTPStatus(status).phrase, detail,
                            errors=errors, headers=headers)


def _internal_problem(error: BaseException) -> Response:
    cause = getattr(error, "original_exception", None) or error
    request_id = g.get("request_id", "-")
    current_app.logger.error(
        "internal error [request_id=%s] %s %s", request_id, request.method, request.path,
        exc_info=(type(cause), cause, cause.__traceback__),
    )
    return problem_response(500, "internal_error", "Internal Server Error", "internal error")


def _field_errors(messages: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for location, tree in messages.items():
        for pointer, message in _flatten(tree, ""):
            yield {"field": pointer, "location": location, "message": message}


def _flatten(tree: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """marshmallow's nested messages as (JSON pointer, message); ``_schema`` is the object."""
    if isinstance(tree, Mapping):
        for key, sub in tree.items():
            step = "" if key == "_schema" else "/" + _escape(str(key))
            yield from _flatten(sub, pointer + step)
    elif isinstance(tree, list | tuple):
        for item in tree:
            yield from _flatten(item, pointer)
    else:
        yield pointer, str(tree)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
