"""The Flask application factory: settings, engine, request ids, errors, REST API, docs."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from api.config import Settings, load_settings
from api.errors import handle_error
from api.openapi import init_openapi
from api.request_ids import init_request_ids
from api.resources import register_resources
from engine.orchestrator import Orchestrator
from storage.database import Database

__all__ = ["create_app"]


def create_app(
    test_config: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    orchestrator: Orchestrator | None = None,
) -> Flask:
    """Build the app; ``settings`` and ``orchestrator`` default to the environment's."""
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.from_mapping(MAX_CONTENT_LENGTH=settings.max_request_bytes)
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    orchestrator = orchestrator or Orchestrator(
        Database(settings.database_url), script_time_limit=settings.script_time_limit
    )
    app.extensions["itsm"] = orchestrator

    init_request_ids(app)  # first, so every later hook and error has the id
    app.register_error_handler(Exception, handle_error)
    register_resources(init_openapi(app))

    @app.get("/health")
    def health() -> Any:
        with orchestrator.db.read() as session:
            session.execute(text("select 1"))
        return jsonify(status="ok")

    return app
