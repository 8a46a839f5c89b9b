"""Information security incidents (bpmn/security_incident) along every path of the diagram.

Prioritised by security risk (decision security_priority from the confidentiality, integrity
and availability impact); containment, eradication and recovery run in parallel with the
personal data breach assessment; a breach is notified to the supervisory authority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.errors import NotAllowed
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications, timers_of
from tests.support.case_processes import (
    ISM,
    SECURITY_INCIDENT,
    SECURITY_TEAM,
    complete,
    completed_titles,
    dmn_rule_count,
    open_titles,
    start,
    task_data,
    view,
)

P = SECURITY_INCIDENT
REPORT, ASSESS, AUTHORITY = ("Report security incident", "Assess personal data breach",
                             "Notify supervisory authority")
CONTAIN, ERADICATE, RECOVER, LESSONS = "Contain", "Eradicate", "Recover", "Lessons learned"
NO_BREACH = {"personal_data_breached": False, "data_subjects_affected": 0,
             "breach_assessment": "Only system accounts were involved; no personal data."}


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "security_incident")


def report(orchestrator: Orchestrator, **changes: Any) -> tuple[int, str]:
    iid, key = start(orchestrator, P)
    complete(orchestrator, P, iid, REPORT, **changes)
    # the security team contains while the information security manager assesses the breach
    assert open_titles(orchestrator, iid) == [ASSESS, CONTAIN]
    return iid, key


def handle(orchestrator: Orchestrator, iid: int) -> None:
    for title in (CONTAIN, ERADICATE, RECOVER):
        complete(orchestrator, P, iid, title)


@dataclass
class Expected:
    instance_id: int
    business_key: str
    summary: str
    priority: int
    risk: str
    tasks: list[str]
    alerted: bool
    breach: bool


def path_personal_data_breach(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = report(orchestrator)
    handle(orchestrator, iid)
    current = view(orchestrator, iid)
    assert current.status == "running"  # waits for the breach assessment (parallel join)
    assert [t.title for t in current.open_tasks] == [ASSESS]
    complete(orchestrator, P, iid, ASSESS)
    assert find_task(orchestrator, ISM, AUTHORITY, iid).lane == "Information Security Manager"
    complete(orchestrator, P, iid, AUTHORITY)
    complete(orchestrator, P, iid, LESSONS)
    return Expected(iid, key, "Unusual bulk export from the HR portal", 1, "critical",
                    [REPORT, CONTAIN, ERADICATE, RECOVER, ASSESS, AUTHORITY, LESSONS],
                    alerted=True, breach=True)


def path_no_breach_medium_risk(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    summary = "Malware found on a kiosk PC"
    iid, key = report(orchestrator, category="malware", summary=summary,
                      confidentiality_impact=0, integrity_impact=1, availability_impact=1)
    complete(orchestrator, P, iid, ASSESS, **NO_BREACH)
    assert open_titles(orchestrator, iid) == [CONTAIN]  # no notification of the authority
    handle(orchestrator, iid)
    complete(orchestrator, P, iid, LESSONS, follow_up_problem=False)
    return Expected(iid, key, summary, 3, "medium",
                    [REPORT, ASSESS, CONTAIN, ERADICATE, RECOVER, LESSONS],
                    alerted=False, breach=False)


def path_denial_of_service_high_risk(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    summary = "Web shop flooded by a botnet"
    iid, key = report(orchestrator, category="denial_of_service", summary=summary,
                      confidentiality_impact=0, integrity_impact=0, availability_impact=2)
    complete(orchestrator, P, iid, CONTAIN)
    complete(orchestrator, P, iid, ASSESS, **NO_BREACH)
    complete(orchestrator, P, iid, ERADICATE)
    complete(orchestrator, P, iid, RECOVER)
    complete(orchestrator, P, iid, LESSONS)
    return Expected(iid, key, summary, 2, "high",
                    [REPORT, CONTAIN, ASSESS, ERADICATE, RECOVER, LESSONS],
                    alerted=True, breach=False)


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "personal_data_breach_critical": path_personal_data_breach,
    "no_breach_medium_risk": path_no_breach_medium_risk,
    "denial_of_service_high_risk_no_breach": path_denial_of_service_high_risk,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_security_incident_path_ends_closed(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": expected.summary, "priority": str(expected.priority),
                              "service": "HR portal", "assignee_group": None,
                              "status": "Closed"}
    assert current.data["security_incident_number"] == key
    assert current.data["security_risk"] == expected.risk
    assert current.data["personal_data_breached"] is expected.breach
    assert ("authority_reference" in current.data) is expected.breach
    assert completed_titles(orchestrator, iid) == expected.tasks
    outbox = [(n.recipient, n.recipient_role, n.subject) for n in notifications(orchestrator, iid)]
    alert = (None, "Information Security Manager",
             f"Security incident {key} ({expected.risk} risk): {expected.summary}")
    assert outbox == ([alert] if expected.alerted else [])
    assert timers_of(orchestrator, iid) == []


def test_containment_belongs_to_the_security_team(orchestrator: Orchestrator) -> None:
    iid, _ = report(orchestrator)
    contain = find_task(orchestrator, SECURITY_TEAM, CONTAIN, iid)
    assert contain.lane == "Security Team"
    with pytest.raises(NotAllowed):
        orchestrator.complete_task(contain.id, task_data(P, CONTAIN), ISM)
    assess = find_task(orchestrator, ISM, ASSESS, iid)
    with pytest.raises(NotAllowed):
        orchestrator.complete_task(assess.id, task_data(P, ASSESS), SECURITY_TEAM)


# --------------------------------------------------------------------------- decision table

SECURITY_PRIORITY = [
    # (confidentiality, integrity, availability) -> (priority, risk, contain within)
    ((3, 1, 0), (1, "critical", timedelta(hours=4))),
    ((0, 2, 1), (2, "high", timedelta(hours=8))),
    ((1, 0, 1), (3, "medium", timedelta(days=1))),
    ((0, 0, 0), (4, "low", timedelta(days=3))),
]


def test_security_priority_table_row_by_row(
    orchestrator: Orchestrator, clock: ManualClock
) -> None:
    assert dmn_rule_count("security_incident", "security_priority.dmn") == len(SECURITY_PRIORITY)
    for (c, i, a), (priority, risk, within) in SECURITY_PRIORITY:
        iid, _ = report(orchestrator, confidentiality_impact=c, integrity_impact=i,
                        availability_impact=a)
        data = view(orchestrator, iid).data
        assert (data["priority"], data["security_risk"]) == (priority, risk), (c, i, a)
        assert data["containment_due"] == (clock.now() + within).isoformat()
        assert data["security_status"] == "Containment"
