"""Who is calling: a bearer token now, the web UI's session cookie later.

``current_actor()`` is the one place that answers; resource blueprints call
``require_caller`` before every view, so a view can rely on ``g.actor``.
"""

from __future__ import annotations

from flask import current_app, g, request

from api.errors import Unauthenticated
from engine import accounts
from engine.access import Actor
from engine.orchestrator import Orchestrator

__all__ = ["current_actor", "require_caller"]

_BEARER = "bearer "
_MAX_TOKEN_LENGTH = 200


def current_actor() -> Actor | None:
    """The caller, or None: the bearer token first, then the session (once the UI has one)."""
    if "actor" not in g:
        g.actor = _actor_from_bearer() or _actor_from_session()
    actor: Actor | None = g.actor
    return actor


def require_caller() -> None:
    """``before_request`` of every API blueprint: 401 unless someone is calling."""
    if current_actor() is None:
        raise Unauthenticated(token_given=_bearer_secret() is not None)


def _bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[: len(_BEARER)].lower() != _BEARER:
        return None
    return header[len(_BEARER):].strip() or None


def _actor_from_bearer() -> Actor | None:
    secret = _bearer_secret()
    if secret is None or len(secret) > _MAX_TOKEN_LENGTH or not secret.isascii():
        return None
    orchestrator: Orchestrator = current_app.extensions["itsm"]
    with orchestrator.db.read() as session:
        return accounts.actor_for_token(session, secret)


def _actor_from_session() -> Actor | None:
    # The web UI will sign users in with a session cookie (and a CSRF token for writes);
    # until it exists no request is authenticated this way.
    return None
