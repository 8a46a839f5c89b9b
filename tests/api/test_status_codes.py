"""One test per status code of the contract, each checking the body a client gets."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

import pytest

from tests.api.conftest import LIBRARY, ApiClient, assert_problem
from tests.integration.conftest import form_data


def _folder(**changes: bytes) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((LIBRARY / "incident").iterdir())}
    return {**files, **changes}


def _multipart(files: dict[str, bytes]) -> dict[str, Any]:
    return {"data": {"files": [(io.BytesIO(c), name) for name, c in files.items()]},
            "content_type": "multipart/form-data"}


def _zipped(entries: dict[str, bytes]) -> dict[str, Any]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return _multipart({"incident.zip": buffer.getvalue()})


def _renamed_manifest(name: str) -> bytes:
    manifest = json.loads((LIBRARY / "incident" / "manifest.json").read_text())
    return json.dumps({**manifest, "name": name}, indent=2).encode()


# --------------------------------------------------------------------------- 2xx


def test_201_start_answers_with_the_instance_and_its_first_task(api: ApiClient) -> None:
    response = api.post("/processes/incident/instances", "service_desk",
                        json={"data": {"caller": "bob@example.com"}, "business_key": "EXT-7"})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/instances/{body['instance_id']}"
    assert (body["business_key"], body["status"], body["error"]) == ("EXT-7", "running", None)
    assert [(t["title"], t["lane"], t["assignee"]) for t in body["tasks"]] == [
        ("Record and classify", "Service Desk", None)]


def test_201_deploys_a_changed_folder_as_a_zip_and_200_when_identical(api: ApiClient) -> None:
    changed = {f"incident/{n}": c for n, c in _folder(**{
        "manifest.json": _renamed_manifest("Incident management (v2)")}).items()}
    created = api.post("/processes/incident/versions", "owner",
                       **_zipped({**changed, "incident/README.md": b"ignored"}))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["key"], body["created"], body["version"]["number"]) == ("incident", True, 2)
    assert body["version"]["deployed_by"] == "paula"
    assert "README.md" not in body["version"]["files"]
    assert created.headers["Location"] == "/api/v1/processes/incident/versions/2"
    assert api.get("/processes/incident").get_json()["name"] == "Incident management (v2)"

    again = api.post("/processes/incident/versions", "owner", **_multipart(_folder(**{
        "manifest.json": _renamed_manifest("Incident management (v2)")})))
    assert again.status_code == 200
    assert (again.get_json()["created"], again.get_json()["version"]["number"]) == (False, 2)


# --------------------------------------------------------------------------- 4xx


def test_401_without_or_with_a_bad_token(api: ApiClient) -> None:
    missing = api.get("/tasks", None)
    assert_problem(missing, 401, "unauthenticated")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="itsm"'

    wrong = api.get("/tasks", None, headers={"Authorization": "Bearer itsm_not-a-token"})
    assert_problem(wrong, 401, "unauthenticated")
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]

    # Health, the OpenAPI document and the docs page need no caller.
    assert api.get("/health", None).get_json() == {"status": "ok"}
    assert api.get("/api/v1/openapi.json", None).status_code == 200
    assert api.get("/api/v1/docs", None).status_code == 200


def test_401_for_a_revoked_token(api: ApiClient) -> None:
    with api.orchestrator.db.write() as session:
        from engine import accounts

        accounts.revoke_token(session, api.tokens["reader"][:12])
    assert_problem(api.get("/processes", "reader"), 401, "unauthenticated")


def test_403_when_the_lane_is_not_the_callers(api: ApiClient) -> None:
    iid = api.recorded_incident()["instance_id"]
    task_id = api.task_id("admin", "Investigate and diagnose", iid)
    response = api.post(f"/tasks/{task_id}/complete", "service_desk",
                        json=form_data("Investigate and diagnose"))
    body = assert_problem(response, 403, "not_allowed")
    assert "Resolver Group" in body["detail"]
    assert_problem(api.post("/processes/incident/versions", "resolver",
                            **_multipart(_folder())), 403, "not_allowed")


def test_404_for_unknown_things(api: ApiClient) -> None:
    assert_problem(api.get("/instances/999999"), 404, "not_found")
    assert_problem(api.get("/processes/nosuch"), 404, "not_found")
    assert_problem(api.get("/processes/incident/versions/7/files/incident.bpmn"), 404,
                   "not_found")
    assert_problem(api.post("/processes/nosuch/instances", json={}), 404, "not_found")
    assert_problem(api.get("/no/such/path", None), 404, "not_found")


def test_404_when_a_message_matches_nothing(api: ApiClient) -> None:
    response = api.post("/messages/incident_confirmation", "service_desk",
                        json={"correlation": {"incident_number": "INC-999999"}})
    body = assert_problem(response, 404, "no_match")
    assert "INC-999999" in body["detail"]


def test_405_names_the_allowed_methods(api: ApiClient) -> None:
    response = api.request("DELETE", "/processes", "admin")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_409_when_a_task_is_completed_twice_or_claimed_by_another(api: ApiClient) -> None:
    iid = api.recorded_incident()["instance_id"]
    task_id = api.task_id("resolver", "Investigate and diagnose", iid)
    assert api.post(f"/tasks/{task_id}/claim", "admin").status_code == 200
    claimed = api.post(f"/tasks/{task_id}/claim", "resolver")
    assert "ada" in assert_problem(claimed, 409, "conflict")["detail"]

    data = form_data("Investigate and diagnose")
    assert api.post(f"/tasks/{task_id}/complete", "admin", json=data).status_code == 200
    twice = api.post(f"/tasks/{task_id}/complete", "admin", json=data)
    assert_problem(twice, 409, "task_not_ready")


def test_409_when_the_instance_is_not_running(api: ApiClient) -> None:
    iid = api.start_incident()["instance_id"]
    assert api.post(f"/instances/{iid}/cancel", "service_desk",
                    json={"reason": "duplicate"}).get_json()["status"] == "cancelled"
    again = api.post(f"/instances/{iid}/cancel", "service_desk")
    assert_problem(again, 409, "instance_not_running")


def test_413_when_the_body_is_too_large(api: ApiClient) -> None:
    huge = {"data": {"notes": "x" * 70_000}}
    response = api.post("/processes/incident/instances", "service_desk", json=huge)
    assert_problem(response, 413, "request_too_large")


def test_422_lists_form_field_errors_as_json_pointers(api: ApiClient) -> None:
    iid = api.start_incident()["instance_id"]
    task_id = api.task_id("service_desk", "Record and classify", iid)
    data = form_data("Record and classify", impact=7)
    del data["summary"]
    response = api.post(f"/tasks/{task_id}/complete", "service_desk", json=data)
    body = assert_problem(response, 422, "form_invalid")
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"/impact", "/summary"}
    assert all(fields.values())


def test_422_for_unknown_fields_and_bad_parameters(api: ApiClient) -> None:
    unknown = api.post("/processes/incident/instances", json={"data": {}, "priority": 1})
    body = assert_problem(unknown, 422, "invalid_input")
    assert body["errors"] == [{"field": "/priority", "location": "json",
                               "message": "Unknown field."}]
    bad_page = assert_problem(api.get("/tasks?page=0&colour=red"), 422, "invalid_input")
    assert {e["field"] for e in bad_page["errors"]} == {"/page", "/colour"}
    nul = api.post("/processes/incident/instances", json={"data": {"x": "a\u0000b"}})
    assert_problem(nul, 422, "invalid_input")


def test_422_lists_every_problem_of_a_rejected_deploy(api: ApiClient) -> None:
    broken = _folder(**{"incident.bpmn": b"<definitions>not closed"})
    del broken["manifest.json"]
    response = api.post("/processes/incident/versions", "owner", **_multipart(broken))
    body = assert_problem(response, 422, "deploy_rejected")
    assert len(body["errors"]) >= 2
    assert all(set(e) == {"file", "line", "element_id", "message"} for e in body["errors"])
    assert "incident.bpmn" in {e["file"] for e in body["errors"]}
    assert any("manifest" in e["message"] for e in body["errors"])
    assert api.get("/processes/incident").get_json()["version_count"] == 1


@pytest.mark.parametrize("entry", ["../evil.bpmn", "/etc/evil.bpmn"])
def test_422_for_a_zip_whose_paths_leave_the_folder(api: ApiClient, entry: str) -> None:
    response = api.post("/processes/incident/versions", "owner", **_zipped({entry: b"x"}))
    body = assert_problem(response, 422, "deploy_rejected")
    assert body["errors"][0]["file"] == entry


def test_400_for_a_body_that_is_not_json(api: ApiClient) -> None:
    response = api.post("/processes/incident/instances", data="{not json",
                        content_type="application/json")
    assert_problem(response, 400, "bad_request")


def test_415_for_a_body_that_is_not_sent_as_json(api: ApiClient) -> None:
    response = api.post("/processes/incident/instances", data='{"data": {}}',
                        content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")
    # An empty POST is fine where every field is optional.
    assert api.post("/processes/incident/instances").status_code == 201


# --------------------------------------------------------------------------- 5xx


def test_500_hides_the_exception_and_logs_it_with_the_request_id(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    api.app.add_url_rule("/api/v1/test-explode", "test_explode", explode)
    with caplog.at_level(logging.ERROR):
        response = api.get("/api/v1/test-explode")
    body = assert_problem(response, 500, "internal_error")
    assert body["detail"] == "internal error"
    assert "hunter2" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])
