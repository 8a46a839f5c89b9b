"""The incident lifecycle as an integrator drives it over HTTP, with a token per role."""

from __future__ import annotations

from typing import Any

from engine.orchestrator import process_folders
from tests.api.conftest import LIBRARY, ApiClient
from tests.integration.conftest import CALLER, form_data


def _titles(body: dict[str, Any]) -> list[str]:
    return [t["title"] for t in body["tasks"]]


def test_incident_from_start_to_close(api: ApiClient) -> None:
    # The service desk's integration opens an incident with its token.
    started = api.start_incident("service_desk")
    iid, key = started["instance_id"], started["business_key"]
    assert key == "INC-000001"
    assert started["status"] == "running"
    assert _titles(started) == ["Record and classify"]

    # The service desk user finds the task in the inbox and reads its form.
    inbox = api.get("/tasks", "service_desk").get_json()
    [row] = inbox["items"]
    assert (row["title"], row["lane"], row["business_key"]) == (
        "Record and classify", "Service Desk", key)
    assert inbox["has_more"] is False
    task = api.get(f"/tasks/{row['id']}", "service_desk").get_json()
    assert "impact" in task["form"]["schema"]["properties"]
    assert task["form"]["ui_schema"] is not None
    assert task["data"]["incident_number"] == key

    # Recording it hands the incident to the resolver group.
    recorded = api.complete("service_desk", "Record and classify", iid)
    assert _titles(recorded) == ["Investigate and diagnose"]
    assert recorded["tasks"][0]["lane"] == "Resolver Group"
    assert api.get("/tasks", "service_desk").get_json()["items"] == []

    # A resolver claims, investigates and resolves.
    task_id = api.task_id("resolver", "Investigate and diagnose", iid)
    claimed = api.post(f"/tasks/{task_id}/claim", "resolver")
    assert claimed.get_json() == {"id": task_id, "assignee": "rita"}
    api.complete("resolver", "Investigate and diagnose", iid)
    resolved = api.complete("resolver", "Resolve", iid)
    assert resolved["tasks"] == []
    detail = api.get(f"/instances/{iid}", "service_desk").get_json()
    assert detail["record"]["status"] == "Resolved"

    # The caller confirms by message, correlated on the incident number.
    confirmed = api.post("/messages/incident_confirmation", "service_desk",
                         json={"correlation": {"incident_number": key},
                               "payload": {"accepted": True}})
    assert confirmed.status_code == 200
    assert confirmed.get_json() == {"received_by": [iid], "started": None}

    detail = api.get(f"/instances/{iid}", "service_desk").get_json()
    assert detail["status"] == "completed"
    assert detail["ended_at"] is not None
    assert detail["open_tasks"] == []
    assert detail["record"] == {"title": "Mail is down for me", "priority": "3",
                                "service": "Email", "assignee_group": "Applications",
                                "status": "Closed"}
    assert detail["data"]["closure"] == "confirmed"

    # The audit trail says who did what, in order.
    events = api.get(f"/instances/{iid}/events", "manager").get_json()
    assert [(e["kind"], e["actor"], e["task_name"]) for e in events] == [
        ("instance_started", "sam", None),
        ("task_completed", "sam", "Record and classify"),
        ("task_claimed", "rita", "Investigate and diagnose"),
        ("task_completed", "rita", "Investigate and diagnose"),
        ("task_completed", "rita", "Resolve"),
        ("message_received", "sam", None),
        ("instance_completed", "sam", None),
    ]
    recorded_data = events[1]["details"]["data"]
    assert recorded_data["caller"] == CALLER

    # And the instance is found by its business key and by text.
    found = api.get(f"/instances?business_key={key}", "reader").get_json()
    assert (found["total"], found["items"][0]["id"]) == (1, iid)
    assert api.get("/instances?q=mail%20is%20down", "reader").get_json()["total"] == 1


def test_reassignment_goes_back_to_the_resolver_group(api: ApiClient) -> None:
    iid = api.recorded_incident()["instance_id"]
    reassign = form_data("Investigate and diagnose", assignment_group="Network",
                         outcome="reassign", findings="Looks like a firewall rule")
    after = api.complete("resolver", "Investigate and diagnose", iid, reassign)
    assert _titles(after) == ["Investigate and diagnose"]
    detail = api.get(f"/instances/{iid}", "resolver").get_json()
    assert detail["record"]["assignee_group"] == "Network"

    api.complete("resolver", "Investigate and diagnose", iid,
                 form_data("Investigate and diagnose", assignment_group="Database"))
    api.complete("resolver", "Resolve", iid)
    key = detail["business_key"]
    api.post("/messages/incident_confirmation", "service_desk",
             json={"correlation": {"incident_number": key}, "payload": {"accepted": True}})
    # Closed, the incident is no longer the resolvers' business; its starter still sees it.
    assert api.get(f"/instances/{iid}", "resolver").status_code == 403
    detail = api.get(f"/instances/{iid}", "service_desk").get_json()
    assert (detail["status"], detail["record"]["assignee_group"]) == ("completed", "Database")
    kinds = [e["kind"] for e in api.get(f"/instances/{iid}/events").get_json()]
    assert kinds.count("task_completed") == 4


def test_an_integrator_reads_the_deployed_library(api: ApiClient) -> None:
    processes = {p["key"]: p for p in api.get("/processes", "reader").get_json()}
    assert set(processes) == {folder.name for folder in process_folders(LIBRARY)}
    incident = processes["incident"]
    assert (incident["latest_version"], incident["owner_role"]) == (1, "Incident Manager")
    assert incident["iso20000"]["2018"] == ["8.6.1"]

    detail = api.get("/processes/incident", "reader").get_json()
    assert detail["start_messages"] == []
    assert "incident.bpmn" in detail["latest"]["files"]
    [version] = api.get("/processes/incident/versions", "reader").get_json()
    assert version["number"] == 1 and version["deployed_by"] == "system"

    bpmn = api.get("/processes/incident/versions/1/files/incident.bpmn", "reader")
    assert bpmn.status_code == 200 and bpmn.mimetype == "application/xml"
    assert bpmn.data == (api_library_file("incident/incident.bpmn"))
    form = api.get("/processes/incident/versions/1/files/record.schema.json", "reader")
    assert form.mimetype == "application/json" and form.get_json()["type"] == "object"


def api_library_file(relative: str) -> bytes:
    from tests.api.conftest import LIBRARY

    return (LIBRARY / relative).read_bytes()
