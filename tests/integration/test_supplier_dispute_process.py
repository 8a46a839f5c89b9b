"""Supplier disputes (bpmn/supplier_dispute) along every path of the diagram.

A dispute is recorded against a contract, assessed, negotiated with the supplier, escalated
to management when negotiation fails, and closed with a contract change needed flag; a
needed contract change is raised with the supplier manager role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.clock import ManualClock
from engine.errors import NotAllowed
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications
from tests.support.case_processes import (
    SERVICE_OWNER,
    SUPPLIER_DISPUTE,
    SUPPLIER_MANAGER,
    complete,
    completed_titles,
    open_titles,
    start,
    task_data,
    view,
)

P = SUPPLIER_DISPUTE
RECORD, ASSESS, NEGOTIATE = "Record dispute", "Assess dispute", "Negotiate with supplier"
ESCALATE, CLOSE = "Escalate to management", "Close dispute"
CHANGE = {"contract_change_needed": True,
          "contract_change_description": "Measure availability per calendar month at our "
                                         "monitoring point; add a service credit table."}


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "supplier_dispute")


def negotiate(orchestrator: Orchestrator, resolved: bool) -> tuple[int, str]:
    iid, key = start(orchestrator, P)
    complete(orchestrator, P, iid, RECORD)
    assert find_task(orchestrator, SERVICE_OWNER, ASSESS, iid).lane == "Service Owner"
    complete(orchestrator, P, iid, ASSESS)
    failed = {"negotiation_outcome": "not_resolved", "agreed_resolution": None}
    complete(orchestrator, P, iid, NEGOTIATE, **({} if resolved else failed))
    return iid, key


def escalate(orchestrator: Orchestrator, iid: int) -> None:
    current = view(orchestrator, iid)
    assert current.record["status"] == "Escalated"
    assert [(t.title, t.lane) for t in current.open_tasks] == [(ESCALATE, "Service Owner")]
    complete(orchestrator, P, iid, ESCALATE)


@dataclass
class Expected:
    instance_id: int
    business_key: str
    tasks: list[str]
    contract_change: bool


def path_resolved_by_negotiation(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = negotiate(orchestrator, resolved=True)
    assert open_titles(orchestrator, iid) == [CLOSE]
    complete(orchestrator, P, iid, CLOSE)
    return Expected(iid, key, [RECORD, ASSESS, NEGOTIATE, CLOSE], contract_change=False)


def path_escalated_contract_change(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = negotiate(orchestrator, resolved=False)
    escalate(orchestrator, iid)
    complete(orchestrator, P, iid, CLOSE, **CHANGE)
    return Expected(iid, key, [RECORD, ASSESS, NEGOTIATE, ESCALATE, CLOSE],
                    contract_change=True)


def path_escalated_no_change(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = negotiate(orchestrator, resolved=False)
    escalate(orchestrator, iid)
    complete(orchestrator, P, iid, CLOSE)
    return Expected(iid, key, [RECORD, ASSESS, NEGOTIATE, ESCALATE, CLOSE],
                    contract_change=False)


def path_resolved_contract_change(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = negotiate(orchestrator, resolved=True)
    complete(orchestrator, P, iid, CLOSE, **CHANGE)
    return Expected(iid, key, [RECORD, ASSESS, NEGOTIATE, CLOSE], contract_change=True)


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "resolved_by_negotiation": path_resolved_by_negotiation,
    "escalated_contract_change": path_escalated_contract_change,
    "escalated_no_contract_change": path_escalated_no_change,
    "resolved_contract_change": path_resolved_contract_change,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_supplier_dispute_path_ends_closed(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": task_data(P, RECORD)["summary"], "priority": "high",
                              "service": "Web shop", "assignee_group": None,
                              "status": "Closed"}
    assert current.data["dispute_number"] == key
    assert current.data["contract_reference"] == "CTR-2030-017"
    assert current.data["contract_change_needed"] is expected.contract_change
    assert completed_titles(orchestrator, iid) == expected.tasks
    outbox = notifications(orchestrator, iid)
    if expected.contract_change:
        [note] = outbox
        assert (note.recipient, note.recipient_role) == (None, "Supplier Manager")
        assert note.subject == f"Contract change needed: CTR-2030-017 (dispute {key})"
        assert note.body == CHANGE["contract_change_description"]
    else:
        assert outbox == []


def test_only_the_service_owner_decides_an_escalation(orchestrator: Orchestrator) -> None:
    iid, _ = negotiate(orchestrator, resolved=False)
    task = find_task(orchestrator, SERVICE_OWNER, ESCALATE, iid)
    with pytest.raises(NotAllowed):
        orchestrator.complete_task(task.id, task_data(P, ESCALATE), SUPPLIER_MANAGER)
