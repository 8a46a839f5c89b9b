"""The incident process from start to close, along every path the diagram offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.access import SYSTEM
from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from tests.integration.conftest import (
    CALLER,
    MANAGER,
    RESOLVER,
    SERVICE_DESK,
    audit_kinds,
    complete_current,
    confirm,
    find_task,
    form_data,
    notifications,
    probe_folder,
    record_incident,
    timers_of,
)

STARTED, COMPLETED, MESSAGE, TIMER = (
    "instance_started", "task_completed", "message_received", "timer_fired",
)
FINISHED = "instance_completed"


@dataclass
class Expected:
    """What a path leaves behind, beyond what every path shares."""

    instance_id: int
    business_key: str
    priority: str
    closure: str
    audit: list[str]
    assignee_group: str | None = "Applications"
    # (recipient, recipient_role, subject) of every outbox row, in order
    outbox: list[tuple[str | None, str | None, str]] = field(default_factory=list)


def _inform_caller(key: str) -> tuple[str | None, str | None, str]:
    return (CALLER, None, f"Incident {key} resolved")


def _investigate_and_resolve(orchestrator: Orchestrator, instance_id: int) -> None:
    complete_current(orchestrator, RESOLVER, "Investigate and diagnose", instance_id=instance_id)
    outcome = complete_current(orchestrator, RESOLVER, "Resolve", instance_id=instance_id)
    assert outcome.status == "running"
    assert orchestrator.instance(instance_id, SERVICE_DESK).record["status"] == "Resolved"


# --------------------------------------------------------------------------- the paths


def path_normal(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator, impact=2, urgency=2)
    iid, key = recorded.instance_id, recorded.business_key
    view = orchestrator.instance(iid, SERVICE_DESK)
    assert view.record["status"] == "In progress"
    assert [t.title for t in view.open_tasks] == ["Investigate and diagnose"]
    _investigate_and_resolve(orchestrator, iid)
    assert confirm(orchestrator, key).received_by == [iid]
    return Expected(iid, key, "3", "confirmed",
                    [STARTED, COMPLETED, COMPLETED, COMPLETED, MESSAGE, FINISHED],
                    outbox=[_inform_caller(key)])


def path_reassignment(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator)
    iid, key = recorded.instance_id, recorded.business_key
    reassign = form_data("Investigate and diagnose", assignment_group="Network",
                         outcome="reassign", findings="Looks like a firewall rule")
    complete_current(orchestrator, RESOLVER, "Investigate and diagnose", reassign, iid)
    view = orchestrator.instance(iid, SERVICE_DESK)
    assert view.record["assignee_group"] == "Network"
    assert [t.title for t in view.open_tasks] == ["Investigate and diagnose"]
    resolved = form_data("Investigate and diagnose", assignment_group="Database")
    complete_current(orchestrator, RESOLVER, "Investigate and diagnose", resolved, iid)
    complete_current(orchestrator, RESOLVER, "Resolve", instance_id=iid)
    confirm(orchestrator, key)
    return Expected(iid, key, "3", "confirmed",
                    [STARTED, COMPLETED, COMPLETED, COMPLETED, COMPLETED, MESSAGE, FINISHED],
                    assignee_group="Database", outbox=[_inform_caller(key)])


def path_reopen(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator)
    iid, key = recorded.instance_id, recorded.business_key
    _investigate_and_resolve(orchestrator, iid)
    assert confirm(orchestrator, key, accepted=False).received_by == [iid]
    view = orchestrator.instance(iid, SERVICE_DESK)
    assert view.status == "running"
    assert view.record["status"] == "Reopened"
    find_task(orchestrator, RESOLVER, "Investigate and diagnose", iid)
    _investigate_and_resolve(orchestrator, iid)
    confirm(orchestrator, key)
    return Expected(iid, key, "3", "confirmed",
                    [STARTED, COMPLETED, COMPLETED, COMPLETED, MESSAGE,
                     COMPLETED, COMPLETED, MESSAGE, FINISHED],
                    outbox=[_inform_caller(key), _inform_caller(key)])


def path_auto_close(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator)
    iid, key = recorded.instance_id, recorded.business_key
    _investigate_and_resolve(orchestrator, iid)
    [no_answer] = timers_of(orchestrator, iid)
    assert no_answer.due_at == clock.now() + timedelta(days=5)
    clock.advance(timedelta(days=5) - timedelta(minutes=1))
    assert orchestrator.fire_due_timers().timers == 0
    clock.advance(timedelta(minutes=2))
    fired = orchestrator.fire_due_timers()
    assert (fired.instances, fired.timers) == (1, 1)
    return Expected(iid, key, "3", "automatic",
                    [STARTED, COMPLETED, COMPLETED, COMPLETED, TIMER, FINISHED],
                    outbox=[_inform_caller(key)])


def path_escalation(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator, impact=1, urgency=2)
    iid, key = recorded.instance_id, recorded.business_key
    assert orchestrator.instance(iid, SERVICE_DESK).data["escalation_after"] == "PT8H"
    [escalation] = timers_of(orchestrator, iid)
    assert escalation.due_at == clock.now() + timedelta(hours=8)
    clock.advance(timedelta(hours=9))
    assert orchestrator.fire_due_timers().timers == 1
    review = find_task(orchestrator, MANAGER, "Review escalated incident", iid)
    assert review.lane == "Incident Manager"
    open_titles = {t.title for t in orchestrator.instance(iid, MANAGER).open_tasks}
    assert open_titles == {"Investigate and diagnose", "Review escalated incident"}
    find_task(orchestrator, RESOLVER, "Investigate and diagnose", iid)
    assert timers_of(orchestrator, iid) == []  # the escalation fires once
    complete_current(orchestrator, MANAGER, "Review escalated incident", instance_id=iid)
    _investigate_and_resolve(orchestrator, iid)
    confirm(orchestrator, key)
    return Expected(iid, key, "2", "confirmed",
                    [STARTED, COMPLETED, TIMER, COMPLETED, COMPLETED, COMPLETED,
                     MESSAGE, FINISHED],
                    outbox=[_inform_caller(key)])


def path_major(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    recorded = record_incident(orchestrator, impact=1, urgency=1)
    iid, key = recorded.instance_id, recorded.business_key
    view = orchestrator.instance(iid, MANAGER)
    assert [(t.title, t.lane) for t in view.open_tasks] == [("Take ownership", "Incident Manager")]
    complete_current(orchestrator, MANAGER, "Take ownership", instance_id=iid)
    complete_current(orchestrator, RESOLVER, "Coordinate resolution", instance_id=iid)
    complete_current(orchestrator, MANAGER, "Post-incident review", instance_id=iid)
    # the called process's data came back: status, resolution and review
    view = orchestrator.instance(iid, MANAGER)
    assert view.record["status"] == "Resolved"
    assert view.data["major_incident"] is True
    assert view.data["follow_up_problem"] is True
    assert confirm(orchestrator, key).received_by == [iid]
    summary = form_data("Record and classify")["summary"]
    return Expected(iid, key, "1", "confirmed",
                    [STARTED, COMPLETED, COMPLETED, COMPLETED, COMPLETED, MESSAGE, FINISHED],
                    assignee_group=None,
                    outbox=[(None, "Incident Manager", f"Major incident {key}: {summary}"),
                            _inform_caller(key)])


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "normal": path_normal,
    "reassignment": path_reassignment,
    "reopen": path_reopen,
    "auto_close": path_auto_close,
    "escalation_by_timer": path_escalation,
    "major": path_major,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_incident_path_ends_closed(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)

    view = orchestrator.instance(expected.instance_id, SERVICE_DESK)
    assert view.status == "completed"
    assert view.error is None
    assert view.ended_at is not None
    assert view.open_tasks == []
    assert view.record == {
        "title": "Mail is down for me",
        "priority": expected.priority,
        "service": "Email",
        "assignee_group": expected.assignee_group,
        "status": "Closed",
    }
    assert view.data["closure"] == expected.closure
    assert view.data["incident_number"] == expected.business_key
    assert audit_kinds(orchestrator, expected.instance_id) == expected.audit
    assert timers_of(orchestrator, expected.instance_id) == []

    outbox = notifications(orchestrator, expected.instance_id)
    assert [(n.recipient, n.recipient_role, n.subject) for n in outbox] == expected.outbox
    caller_notes = [n for n in outbox if n.recipient == CALLER]
    assert all(n.channel == "email" and n.sent_at is None for n in outbox)
    assert caller_notes[-1].body == view.data["resolution_notes"]


def _record_data_for(impact: int, urgency: int) -> dict[str, Any]:
    return form_data("Record and classify", impact=impact, urgency=urgency)


PRIORITY_MATRIX = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}


def test_priority_matrix_follows_the_decision_table(orchestrator: Orchestrator) -> None:
    seen = {}
    for (impact, urgency), priority in PRIORITY_MATRIX.items():
        outcome = record_incident(orchestrator, impact=impact, urgency=urgency)
        view = orchestrator.instance(outcome.instance_id, SERVICE_DESK)
        seen[(impact, urgency)] = int(view.record["priority"] or 0)
        assert view.data["priority"] == priority
    assert seen == PRIORITY_MATRIX


def test_business_keys_are_numbered_in_order(orchestrator: Orchestrator) -> None:
    first = orchestrator.start_instance("incident", {}, SERVICE_DESK)
    second = orchestrator.start_instance("incident", {}, SERVICE_DESK)
    third = orchestrator.start_instance("incident", {}, SERVICE_DESK)
    assert [first.business_key, second.business_key, third.business_key] == [
        "INC-000001", "INC-000002", "INC-000003",
    ]
    view = orchestrator.instance(second.instance_id, SERVICE_DESK)
    assert view.business_key == "INC-000002"
    assert view.data["incident_number"] == "INC-000002"
    assert view.record["status"] == "New"


def test_a_model_without_key_prefix_numbers_its_own_instances_from_1(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    record_incident(orchestrator)
    record_incident(orchestrator)  # other models' instances do not shift the numbering
    [result] = orchestrator.deploy_paths([probe_folder(tmp_path, "probe", "x = 1")], SYSTEM)
    assert result.problems == []
    keys = [orchestrator.start_instance("probe", {}, MANAGER).business_key for _ in range(2)]
    assert keys == ["PROBE-000001", "PROBE-000002"]
