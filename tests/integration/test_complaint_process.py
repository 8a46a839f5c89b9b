"""Complaint handling (bpmn/complaint) along every path of the diagram.

The severity sets the response target (critical 1 day, major 3, minor 5); the investigation
carries a non-interrupting timer with that duration, which escalates the complaint to the
business relationship manager while the investigation goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from engine.access import SYSTEM
from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications, timers_of
from tests.support.case_processes import (
    BRM,
    COMPLAINT,
    CUSTOMER_MAIL,
    complete,
    completed_titles,
    open_titles,
    start,
    task_data,
    view,
)

P = COMPLAINT
RECORD, INVESTIGATE, ACT = "Record complaint", "Investigate complaint", "Act on complaint"
ESCALATION, RESPOND = "Handle escalated complaint", "Respond to customer"
SATISFACTION = "Record customer satisfaction"
TARGETS = {"critical": timedelta(days=1), "major": timedelta(days=3), "minor": timedelta(days=5)}


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "complaint")


def record(orchestrator: Orchestrator, clock: ManualClock, severity: str) -> tuple[int, str]:
    """Start and record a complaint; the investigation is open with its escalation timer."""
    iid, key = start(orchestrator, P)
    complete(orchestrator, P, iid, RECORD, severity=severity)
    assert open_titles(orchestrator, iid) == [INVESTIGATE]
    [timer] = timers_of(orchestrator, iid)
    assert timer.due_at == clock.now() + TARGETS[severity]
    return iid, key


@dataclass
class Expected:
    instance_id: int
    business_key: str
    severity: str
    tasks: list[str]
    justified: bool
    escalated: bool
    closed_in_time: bool


def path_resolved_in_time(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = record(orchestrator, clock, "major")
    clock.advance(timedelta(days=2))
    assert orchestrator.fire_due_timers().timers == 0
    complete(orchestrator, P, iid, INVESTIGATE)
    assert timers_of(orchestrator, iid) == []  # the escalation timer ends with the investigation
    for title in (ACT, RESPOND, SATISFACTION):
        complete(orchestrator, P, iid, title)
    return Expected(iid, key, "major", [RECORD, INVESTIGATE, ACT, RESPOND, SATISFACTION],
                    justified=True, escalated=False, closed_in_time=True)


def path_not_justified(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = record(orchestrator, clock, "minor")
    complete(orchestrator, P, iid, INVESTIGATE, justified=False, cause="expectation_gap",
             findings="The report format is as agreed in the SLA; the customer expected more.")
    assert open_titles(orchestrator, iid) == [RESPOND]  # nothing to act on
    complete(orchestrator, P, iid, RESPOND,
             response="The report follows the format agreed in the SLA; we will discuss a "
                      "richer report at the next service review.")
    complete(orchestrator, P, iid, SATISFACTION, customer_accepts=False, customer_satisfaction=2,
             satisfaction_comment=None)
    return Expected(iid, key, "minor", [RECORD, INVESTIGATE, RESPOND, SATISFACTION],
                    justified=False, escalated=False, closed_in_time=True)


def path_escalated_by_timer(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = record(orchestrator, clock, "critical")
    clock.advance(timedelta(days=1) - timedelta(minutes=1))
    assert orchestrator.fire_due_timers().timers == 0
    clock.advance(timedelta(minutes=2))
    fired = orchestrator.fire_due_timers()
    assert (fired.instances, fired.timers) == (1, 1)
    assert open_titles(orchestrator, iid) == [ESCALATION, INVESTIGATE]  # investigation goes on
    assert find_task(orchestrator, BRM, ESCALATION, iid).lane == "Business Relationship Manager"
    escalation = find_task(orchestrator, BRM, ESCALATION, iid)
    assert orchestrator.task(escalation.id, BRM).data["escalated"] is True
    assert timers_of(orchestrator, iid) == []  # escalates once
    complete(orchestrator, P, iid, ESCALATION)
    for title in (INVESTIGATE, ACT, RESPOND, SATISFACTION):
        complete(orchestrator, P, iid, title)
    return Expected(iid, key, "critical",
                    [RECORD, ESCALATION, INVESTIGATE, ACT, RESPOND, SATISFACTION],
                    justified=True, escalated=True, closed_in_time=False)


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "resolved_in_time": path_resolved_in_time,
    "not_justified": path_not_justified,
    "escalated_by_timer": path_escalated_by_timer,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_complaint_path_ends_closed(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    started_at = clock.now()
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": task_data(P, RECORD)["summary"],
                              "priority": expected.severity, "service": "Payroll",
                              "assignee_group": None, "status": "Closed"}
    data = current.data
    assert data["complaint_number"] == key
    assert data["escalate_after"] == {"critical": "P1D", "major": "P3D",
                                      "minor": "P5D"}[expected.severity]
    assert data["response_due"] == (started_at + TARGETS[expected.severity]).isoformat()
    assert data["justified"] is expected.justified
    # the escalation runs on its own branch: the audit trail shows it
    kinds = [e.kind for e in orchestrator.events(iid, SYSTEM)]
    assert kinds.count("timer_fired") == int(expected.escalated)
    assert (ESCALATION in completed_titles(orchestrator, iid)) is expected.escalated
    assert data["closed_in_time"] is expected.closed_in_time
    assert "customer_satisfaction" in data
    assert completed_titles(orchestrator, iid) == expected.tasks
    assert timers_of(orchestrator, iid) == []

    acknowledgement, response = notifications(orchestrator, iid)
    assert (acknowledgement.recipient, acknowledgement.subject) == (
        CUSTOMER_MAIL, f"Your complaint {key} has been received")
    assert data["response_due"][:10] in acknowledgement.body
    assert (response.recipient, response.subject) == (CUSTOMER_MAIL,
                                                      f"Response to your complaint {key}")
    assert response.body == data["response"]
