"""Who may call what: one table of (endpoint, role) -> status, asserted case by case.

The instance under test is an incident the Service Desk user ``sam`` started and recorded; its
open task "Investigate and diagnose" sits in the Resolver Group lane. The process's owner
role is Incident Manager. Every case builds its own instance, so cases do not interfere.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.api.conftest import LIBRARY, ROLES, ApiClient
from tests.integration.conftest import form_data

COLUMNS = [*ROLES, None]  # service_desk, resolver, manager, owner, reader, admin, no token

_INVESTIGATE = form_data("Investigate and diagnose")

# method, path, what the case needs first, then the status per column:
#                                                        desk  resol manag owner read  admin none
MATRIX: list[tuple[str, str, str | None, tuple[int, ...]]] = [
    ("GET", "/processes", None,                          (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/processes/incident", None,                 (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/processes/incident/versions", None,        (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/processes/incident/versions/1/files/incident.bpmn", None,
                                                         (200, 200, 200, 200, 200, 200, 401)),
    ("POST", "/processes/incident/versions", "upload",   (403, 403, 403, 200, 403, 200, 401)),
    ("POST", "/processes/incident/instances", "start",   (201, 201, 201, 201, 201, 201, 401)),
    ("GET", "/instances", None,                          (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/instances/{iid}", "recorded",              (200, 200, 200, 403, 200, 200, 401)),
    ("GET", "/instances/{iid}/events", "recorded",       (200, 200, 200, 403, 200, 200, 401)),
    ("POST", "/instances/{iid}/cancel", "recorded",      (200, 403, 200, 403, 403, 200, 401)),
    ("GET", "/tasks", None,                              (200, 200, 200, 200, 200, 200, 401)),
    ("GET", "/tasks/{task}", "recorded",                 (403, 200, 403, 403, 200, 200, 401)),
    ("POST", "/tasks/{task}/claim", "recorded",          (403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/tasks/{task}/unclaim", "claimed",         (403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/tasks/{task}/unclaim", "recorded",        (403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/tasks/{task}/complete", "complete",       (403, 200, 403, 403, 403, 200, 401)),
    ("POST", "/messages/incident_confirmation", "resolved",
                                                         (200, 200, 200, 200, 200, 200, 401)),
]

CASES = [
    pytest.param(method, path, setup, role, statuses[i],
                 id=f"{method} {path} as {role or 'nobody'}")
    for method, path, setup, statuses in MATRIX
    for i, role in enumerate(COLUMNS)
]


def _prepare(api: ApiClient, setup: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Path values and request arguments the case needs."""
    if setup in (None, "start"):
        return {}, {"json": {"data": {}}} if setup else {}
    if setup == "upload":  # the deployed folder again: allowed callers get 200, unchanged
        files = [(io.BytesIO(p.read_bytes()), p.name)
                 for p in sorted((LIBRARY / "incident").iterdir())]
        return {}, {"data": {"files": files}, "content_type": "multipart/form-data"}
    if setup == "resolved":
        key = api.resolved_incident()["business_key"]
        return {}, {"json": {"correlation": {"incident_number": key},
                             "payload": {"accepted": True}}}
    iid = api.recorded_incident()["instance_id"]
    task = api.task_id("admin", "Investigate and diagnose", iid)
    if setup == "claimed":
        assert api.post(f"/tasks/{task}/claim", "resolver").status_code == 200
    arguments = {"json": _INVESTIGATE} if setup == "complete" else {}
    return {"iid": iid, "task": task}, arguments


@pytest.mark.parametrize(("method", "path", "setup", "role", "expected"), CASES)
def test_who_may_call_what(
    shared_api: ApiClient, method: str, path: str, setup: str | None, role: str | None,
    expected: int,
) -> None:
    values, arguments = _prepare(shared_api, setup)
    response = shared_api.request(method, path.format(**values), role, **arguments)
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        assert response.mimetype == "application/problem+json"
        code = {401: "unauthenticated", 403: "not_allowed"}[expected]
        assert response.get_json()["code"] == code


def test_lists_show_only_what_the_caller_may_see(shared_api: ApiClient) -> None:
    iid = shared_api.recorded_incident()["instance_id"]

    def visible(role: str) -> set[int]:
        body = shared_api.get("/instances?per_page=100&status=running", role).get_json()
        return {item["id"] for item in body["items"]}

    assert iid in visible("service_desk")  # started it
    assert iid in visible("resolver")  # may act on its task
    assert iid in visible("manager")  # holds the process's owner role
    assert iid in visible("reader") and iid in visible("admin")
    assert iid not in visible("owner")

    def inbox(role: str) -> set[int]:
        body = shared_api.get("/tasks?per_page=100", role).get_json()
        return {item["instance_id"] for item in body["items"]}

    assert iid in inbox("resolver") and iid in inbox("admin")
    assert iid not in inbox("service_desk") | inbox("reader") | inbox("owner")
