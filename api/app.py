"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from api.config import Settings, load_settings
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

    @app.get("/health")
    def health() -> Any:
        with orchestrator.db.read() as session:
            session.execute(_select_one())
        return jsonify(status="ok")

    return app


def _select_one() -> Any:
    from sqlalchemy import text

    return text("select 1")
