"""Fixtures for the REST API tests: the app on a real database, users per role with tokens.

Fixtures
--------
``api``
    An :class:`ApiClient` on a fresh, migrated database (SQLite and PostgreSQL, through
    ``database_url``) with the process library deployed and one user per role, each with an
    API token created through ``engine.accounts``.
``shared_api``
    The same, built once per test module (for tables of many small cases); tests using it
    must not depend on what other tests did, e.g. they start their own instances.

``ApiClient`` wraps Flask's test client: ``api.get(path, as_="service_desk")`` sends the
role's bearer token (``as_=None``: no token), paths are relative to ``/api/v1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api.app import create_app
from api.config import load_settings
from engine import accounts
from engine.access import SYSTEM
from engine.orchestrator import Orchestrator
from storage import migrate
from storage.database import Database
from tests.integration.conftest import form_data
from tests.support.pg_cluster import create_database_at, drop_database_at

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "bpmn"
PREFIX = "/api/v1"

# role label -> (user name, roles held)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "service_desk": ("sam", ("Service Desk",)),
    "resolver": ("rita", ("Resolver Group",)),
    "manager": ("ivan", ("Incident Manager",)),
    "owner": ("paula", ("Process Owner",)),
    "reader": ("olga", ("Reader",)),
    "admin": ("ada", ("Admin",)),
}
ROLES = list(USERS)


@dataclass
class ApiClient:
    """The app, its engine and a token per role; requests go through the Flask test client."""

    app: Flask
    orchestrator: Orchestrator
    tokens: dict[str, str]

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def headers(self, as_: str | None) -> dict[str, str]:
        return {} if as_ is None else {"Authorization": f"Bearer {self.tokens[as_]}"}

    def request(self, method: str, path: str, as_: str | None, **kwargs: Any) -> TestResponse:
        headers = {**self.headers(as_), **kwargs.pop("headers", {})}
        url = path if path.startswith(("/api/", "/health")) else PREFIX + path
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def get(self, path: str, as_: str | None = "admin", **kwargs: Any) -> TestResponse:
        return self.request("GET", path, as_, **kwargs)

    def post(self, path: str, as_: str | None = "admin", **kwargs: Any) -> TestResponse:
        return self.request("POST", path, as_, **kwargs)

    # ------------------------------------------------------------------ incident drivers

    def start_incident(self, as_: str = "service_desk") -> dict[str, Any]:
        response = self.post("/processes/incident/instances", as_, json={"data": {}})
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def task_id(self, as_: str, title: str, instance_id: int) -> str:
        """The id of the one task titled ``title`` of the instance in ``as_``'s inbox."""
        response = self.get("/tasks?per_page=100", as_)
        assert response.status_code == 200, response.get_json()
        ids = [t["id"] for t in response.get_json()["items"]
               if t["title"] == title and t["instance_id"] == instance_id]
        assert len(ids) == 1, f"{as_} should have one {title!r} task: {response.get_json()}"
        return str(ids[0])

    def complete(
        self, as_: str, title: str, instance_id: int, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        task_id = self.task_id(as_, title, instance_id)
        payload = form_data(title) if data is None else data
        response = self.post(f"/tasks/{task_id}/complete", as_, json=payload)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def recorded_incident(self) -> dict[str, Any]:
        """An incident past "Record and classify": its open task is the resolver's."""
        started = self.start_incident()
        return self.complete("service_desk", "Record and classify", started["instance_id"])

    def resolved_incident(self) -> dict[str, Any]:
        """An incident waiting for the caller's confirmation."""
        recorded = self.recorded_incident()
        iid = recorded["instance_id"]
        self.complete("resolver", "Investigate and diagnose", iid)
        return self.complete("resolver", "Resolve", iid)


def build_api(url: str) -> ApiClient:
    """Migrate, deploy the library, create the users and their tokens; build the app."""
    db = Database(url)
    migrate.upgrade(db)
    orchestrator = Orchestrator(db)
    results = orchestrator.deploy_paths([LIBRARY], SYSTEM)
    assert not [r for r in results if r.outcome is None], "the library was rejected"
    tokens = {}
    with db.write() as session:
        for label, (name, roles) in USERS.items():
            accounts.ensure_user(session, name, roles)
            tokens[label] = accounts.create_token(session, name)
    settings = load_settings({"ITSM_DATABASE_URL": url, "ITSM_MAX_REQUEST_BYTES": "65536"})
    app = create_app({"TESTING": True}, settings=settings, orchestrator=orchestrator)
    return ApiClient(app, orchestrator, tokens)


@pytest.fixture
def api(database_url: str) -> Iterator[ApiClient]:
    built = build_api(database_url)
    yield built
    built.orchestrator.db.dispose()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql"],
)
def shared_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiClient]:
    if request.param == "sqlite":
        built = build_api(f"sqlite:///{tmp_path_factory.mktemp('api')}/itsm.db")
        yield built
        built.orchestrator.db.dispose()
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex}"
    built = build_api(create_database_at(server, name))
    yield built
    built.orchestrator.db.dispose()
    drop_database_at(server, name)


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body
