"""Service request fulfilment (bpmn/service_request) along every path its request models offer.

The catalogue item chosen in "Submit request" selects a request model (decision
request_model): whether approval is needed and by whom, the fulfilment group and the target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.errors import NotAllowed
from engine.orchestrator import Orchestrator
from tests.integration.conftest import LIBRARY, deploy_models, find_task, notifications, timers_of
from tests.support.case_processes import (
    APPROVER,
    FULFILMENT,
    MANAGER_MAIL,
    REQUESTER,
    REQUESTER_MAIL,
    SERVICE_DESK,
    SERVICE_REQUEST,
    complete,
    completed_titles,
    dmn_rule_count,
    open_titles,
    start,
    task_data,
    view,
)

P = SERVICE_REQUEST
SUBMIT, CHECK, APPROVE = "Submit request", "Check and prioritise", "Approve request"
FULFIL, CONFIRM = "Fulfil request", "Confirm fulfilment"


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "service_request")


def submit(orchestrator: Orchestrator, item: str, summary: str) -> tuple[int, str]:
    """Start a request for ``item`` and let the service desk check it (priority 3)."""
    iid, key = start(orchestrator, P)
    assert open_titles(orchestrator, iid) == [SUBMIT]
    complete(orchestrator, P, iid, SUBMIT, catalogue_item=item, summary=summary)
    complete(orchestrator, P, iid, CHECK)
    return iid, key


@dataclass
class Expected:
    instance_id: int
    business_key: str
    summary: str
    item: str
    group: str
    status: str
    tasks: list[str]
    outbox: list[tuple[str | None, str | None, str]]
    data: dict[str, Any]


def _approval_subject(key: str, summary: str) -> str:
    return f"Approval needed for request {key}: {summary}"


def _fulfilled(key: str) -> tuple[str | None, str | None, str]:
    return (REQUESTER_MAIL, None, f"Request {key} fulfilled: please confirm")


# --------------------------------------------------------------------------- the paths


def path_laptop_approved(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    summary = "New laptop for the data analyst role"
    iid, key = submit(orchestrator, "laptop", summary)
    approval = find_task(orchestrator, APPROVER, APPROVE, iid)
    assert approval.lane == "Approver"
    assert view(orchestrator, iid).record["status"] == "Awaiting approval"
    complete(orchestrator, P, iid, APPROVE)
    assert view(orchestrator, iid).record["status"] == "In fulfilment"
    complete(orchestrator, P, iid, FULFIL)
    assert view(orchestrator, iid).record["status"] == "Fulfilled"
    complete(orchestrator, P, iid, CONFIRM)
    return Expected(iid, key, summary, "laptop", "Workplace", "Closed",
                    [SUBMIT, CHECK, APPROVE, FULFIL, CONFIRM],
                    [(MANAGER_MAIL, None, _approval_subject(key, summary)), _fulfilled(key)],
                    {"needs_approval": True, "approver_role": "requester_manager",
                     "target_days": 5, "within_target": True, "confirmed": True})


def path_access_right_rejected(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    summary = "Write access to the finance share"
    iid, key = submit(orchestrator, "access_right", summary)
    reason = "Finance data is restricted to the finance team; ask for read access."
    complete(orchestrator, P, iid, APPROVE, approval_decision="rejected",
             approver_name="Olivia Owner", approval_comment=reason)
    [_, rejection] = notifications(orchestrator, iid)
    assert rejection.body == reason
    return Expected(iid, key, summary, "access_right", "Identity and Access", "Rejected",
                    [SUBMIT, CHECK, APPROVE],
                    [(None, "Approver", _approval_subject(key, summary)),
                     (REQUESTER_MAIL, None, f"Request {key} rejected")],
                    {"needs_approval": True, "approver_role": "Approver", "target_days": 1,
                     "approval_decision": "rejected"})


def path_software_licence_without_approval(
    orchestrator: Orchestrator, clock: ManualClock
) -> Expected:
    summary = "Licence for the statistics package"
    iid, key = submit(orchestrator, "software_licence", summary)
    assert open_titles(orchestrator, iid) == [FULFIL]  # pre-approved: no approval step
    complete(orchestrator, P, iid, FULFIL,
             fulfilment_notes="Licence assigned to your account; start the package from the "
                              "software centre.", delivered_reference="LIC-STAT-0199")
    complete(orchestrator, P, iid, CONFIRM, satisfaction=4)
    return Expected(iid, key, summary, "software_licence", "Software Asset Management",
                    "Closed", [SUBMIT, CHECK, FULFIL, CONFIRM], [_fulfilled(key)],
                    {"needs_approval": False, "approver_role": None, "target_days": 2,
                     "satisfaction": 4})


def path_mailbox_not_confirmed_once(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    summary = "Shared mailbox for the events team"
    iid, key = submit(orchestrator, "mailbox", summary)
    complete(orchestrator, P, iid, APPROVE)
    clock.advance(timedelta(days=3))  # past the 2-day target of the mailbox model
    complete(orchestrator, P, iid, FULFIL, fulfilment_notes="Mailbox events@ created.")
    complete(orchestrator, P, iid, CONFIRM, confirmed=False, satisfaction=2,
             requester_comment="The team cannot send as events@ yet.")
    current = view(orchestrator, iid)
    assert current.record["status"] == "In fulfilment"
    assert [t.title for t in current.open_tasks] == [FULFIL]
    complete(orchestrator, P, iid, FULFIL, fulfilment_notes="Send-as rights granted to the "
                                                            "events team.")
    complete(orchestrator, P, iid, CONFIRM)
    return Expected(iid, key, summary, "mailbox", "Messaging", "Closed",
                    [SUBMIT, CHECK, APPROVE, FULFIL, CONFIRM, FULFIL, CONFIRM],
                    [(MANAGER_MAIL, None, _approval_subject(key, summary)), _fulfilled(key),
                     _fulfilled(key)],
                    {"needs_approval": True, "target_days": 2, "within_target": False,
                     "confirmed": True})


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "laptop_approved": path_laptop_approved,
    "access_right_rejected": path_access_right_rejected,
    "software_licence_without_approval": path_software_licence_without_approval,
    "mailbox_not_confirmed_once": path_mailbox_not_confirmed_once,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_service_request_path_ends(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": expected.summary, "priority": "3",
                              "service": expected.item, "assignee_group": expected.group,
                              "status": expected.status}
    assert current.data["request_number"] == key
    assert current.data["closed_at"] is not None
    for name, value in expected.data.items():
        assert current.data[name] == value, name
    assert completed_titles(orchestrator, iid) == expected.tasks
    outbox = notifications(orchestrator, iid)
    assert [(n.recipient, n.recipient_role, n.subject) for n in outbox] == expected.outbox
    assert timers_of(orchestrator, iid) == []


def test_fulfilment_notes_go_to_the_requester(orchestrator: Orchestrator) -> None:
    iid, _ = submit(orchestrator, "software_licence", "Licence for the statistics package")
    complete(orchestrator, P, iid, FULFIL)
    [note] = notifications(orchestrator, iid)
    assert note.body == task_data(P, FULFIL)["fulfilment_notes"]
    task = find_task(orchestrator, REQUESTER, CONFIRM, iid)
    assert task.lane == "Requester"
    with pytest.raises(NotAllowed):  # only the requester confirms
        orchestrator.complete_task(task.id, task_data(P, CONFIRM), FULFILMENT)


# --------------------------------------------------------------------------- decision table

REQUEST_MODEL = {
    # catalogue item: (needs_approval, approver_role, fulfilment_group, target_days)
    "laptop": (True, "requester_manager", "Workplace", 5),
    "software_licence": (False, None, "Software Asset Management", 2),
    "access_right": (True, "Approver", "Identity and Access", 1),
    "mailbox": (True, "requester_manager", "Messaging", 2),
}


def test_request_model_table_row_by_row(orchestrator: Orchestrator, clock: ManualClock) -> None:
    schema = json.loads((LIBRARY / "service_request" / "submit.schema.json").read_text())
    schema_items = [o["const"] for o in schema["properties"]["catalogue_item"]["oneOf"]]
    assert sorted(schema_items) == sorted(REQUEST_MODEL)  # one row per catalogue item
    assert dmn_rule_count("service_request", "request_model.dmn") == len(REQUEST_MODEL)
    for item, (needs_approval, approver_role, group, days) in REQUEST_MODEL.items():
        iid, _ = start(orchestrator, P)
        complete(orchestrator, P, iid, SUBMIT, catalogue_item=item)
        data = view(orchestrator, iid).data
        assert (data["needs_approval"], data["approver_role"], data["fulfilment_group"],
                data["target_days"]) == (needs_approval, approver_role, group, days), item
        due = clock.now() + timedelta(days=days)
        assert data["target_date"] == due.isoformat(), item
        assert view(orchestrator, iid).record["assignee_group"] == group


def test_approval_goes_to_the_approver_lane_only(orchestrator: Orchestrator) -> None:
    iid, _ = submit(orchestrator, "laptop", "New laptop")
    task = find_task(orchestrator, APPROVER, APPROVE, iid)
    for other in (REQUESTER, SERVICE_DESK, FULFILMENT):
        with pytest.raises(NotAllowed):
            orchestrator.complete_task(task.id, task_data(P, APPROVE), other)
