"""What every resource module shares: a Blueprint that needs a caller and rejects unknown
arguments, error responses documented per operation, and the request's engine and actor.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import flask_smorest
from flask import Request, current_app, g
from marshmallow import Schema
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.exceptions import UnsupportedMediaType

from api.auth import require_caller
from api.input_guards import refuse_nul_characters
from engine.access import Actor
from engine.orchestrator import Orchestrator

__all__ = ["ResourceBlueprint", "caller", "orchestrator"]

F = TypeVar("F", bound=Callable[..., Any])


class StrictParser(FlaskParser):
    """Unknown fields are an error in every location (the schemas' ``RAISE``), so a
    misspelt query parameter is a 422 rather than a silently unfiltered list; and a body
    sent as anything but JSON where JSON is expected is a 415, not an empty body.

    The ``multipart`` location reads a multipart/form-data body's files and form fields as
    one set of arguments (an upload with options, e.g. deploy's ``accept_gaps``)."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {
        location: None for location in (*FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "multipart")
    }

    def load_multipart(self, req: Request, schema: Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)

    def load_json(self, req: Request, schema: Schema) -> Any:
        if req.content_length and not req.is_json:
            raise UnsupportedMediaType("Send the request body as application/json.")
        return super().load_json(req, schema)


class ResourceBlueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A resource's Blueprint: every view needs a caller (401 otherwise) and clean input."""

    ARGUMENTS_PARSER = StrictParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(require_caller)
        self.before_request(refuse_nul_characters)

    def problems(self, *statuses: int) -> Callable[[F], F]:
        """Document the problem responses an operation gives (401 always)."""

        def decorate(view: F) -> F:
            for status in sorted({401, *statuses}, reverse=True):
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return view

        return decorate


def orchestrator() -> Orchestrator:
    engine: Orchestrator = current_app.extensions["itsm"]
    return engine


def caller() -> Actor:
    """The authenticated actor (``require_caller`` has run before any view)."""
    actor: Actor = g.actor
    return actor
