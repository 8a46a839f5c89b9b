"""The flask-smorest ``Api``: the OpenAPI document, published error responses, the docs page.

* ``/api/v1/openapi.json`` is generated from the same marshmallow schemas that validate
  requests; every error response in it is ``application/problem+json`` (``ProblemSchema``).
* ``/api/v1/docs`` is Swagger UI served from the ``swagger_ui_bundle`` package's files on this
  server: the page loads nothing from elsewhere.
* Path converters constrain keys, file and message names, and ids, and say so in the document.
"""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any

import flask_smorest
import swagger_ui_bundle
from flask import Blueprint, Flask, Response, send_from_directory
from flask_smorest.utils import prepare_response
from werkzeug.routing import BaseConverter

from api.errors import PROBLEM_CONTENT_TYPE, handle_error
from api.schemas.problems import ProblemSchema

__all__ = ["API_PREFIX", "MAX_ID", "MAX_NUMBER", "ItsmApi", "init_openapi"]

API_PREFIX = "/api/v1"
MAX_ID = 2**63 - 1  # ids are BIGINT
MAX_NUMBER = 2**31 - 1  # version numbers are INTEGER
DOCS_ASSETS = f"{API_PREFIX}/docs/assets/"

SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "An API token (`itsm token create`)."}}


class ItsmApi(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api with problem+json errors, documented and answered by one handler."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: Exception) -> Response:
        return handle_error(error)

    def _register_responses(self) -> None:
        # As flask-smorest does, but error responses are application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


class _PatternConverter(BaseConverter):
    """A path segment matching ``regex``, documented with the same pattern."""

    description = ""

    @classmethod
    def param_schema(cls, _converter: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{cls.regex}$", "description": cls.description}


class KeyConverter(_PatternConverter):
    regex = r"[A-Za-z][A-Za-z0-9_.-]{0,99}"
    description = "Process model key, e.g. `incident`."


class FileNameConverter(_PatternConverter):
    regex = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}"
    description = "A deployed file's name, e.g. `incident.bpmn`."


class MessageNameConverter(_PatternConverter):
    regex = r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}"
    description = "BPMN message name, e.g. `incident_confirmation`."


CONVERTERS: dict[str, type[_PatternConverter]] = {
    "key": KeyConverter,
    "file_name": FileNameConverter,
    "message_name": MessageNameConverter,
}


def init_openapi(app: Flask) -> ItsmApi:
    """Configure and bind the Api; resource blueprints are registered on what it returns."""
    app.config.update(
        API_TITLE="ITSM process orchestrator",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
        # Swagger UI's default validator badge calls an outside server: switch it off.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": SECURITY_SCHEMES},
            "security": [{"bearerAuth": []}],
            "info": {"description": "Start and drive ISO/IEC 20000 processes. Every error is "
                                    "application/problem+json with a stable `code`."},
        },
    )
    for name, converter in CONVERTERS.items():
        app.url_map.converters[name] = converter
    api = ItsmApi(app)
    for converter in CONVERTERS.values():
        api.register_converter(converter, converter.param_schema)
    app.register_blueprint(_docs_assets())
    return api


def _docs_assets() -> Blueprint:
    folder = Path(swagger_ui_bundle.swagger_ui_path)
    assets = Blueprint("docs_assets", __name__, url_prefix=DOCS_ASSETS.rstrip("/"))

    @assets.get("/<file_name:name>")
    def asset(name: str) -> Response:
        return send_from_directory(folder, name, max_age=3600)

    return assets
