"""Change management (bpmn/change) along every path: standard, normal (CAB vote with a quorum,
approved, rejected, failed and backed out, needing a release, major) and emergency (ECAB,
retrospective review); its forms and its risk decision table."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.access import SYSTEM, Actor
from engine.errors import FormInvalid
from engine.orchestrator import Orchestrator
from tests.integration.process_driver import (
    CAB_MEMBERS,
    CHANGE_MANAGER,
    ECAB,
    IMPLEMENTER,
    complete,
    linked,
    open_titles,
    routed_events,
    tasks_of,
    view,
)

REQUEST = {
    "source_key": None,
    "summary": "Upgrade the mail server to CU3",
    "service": "Email",
    "ci": "SRV-0042",
    "change_type": "normal",
}
SEATS = ["Service owner", "Technical authority", "Information security"]

# Canonical valid data for every user task of the change process, by task title.
FORMS: dict[str, dict[str, Any]] = {
    "Record and classify change": {
        "summary": "Upgrade the mail server to CU3",
        "description": "In-place upgrade of both mailbox servers, one after the other.",
        "reason": "CU3 fixes the memory leak behind last month's outages.",
        "change_type": "normal",
        "services": ["Email", "Calendar"],
        "ci": "SRV-0042",
        "backout_plan": "Restore the VM snapshots taken before the upgrade (30 minutes).",
        "cost": 1200,
        "benefit": "No more weekly restarts of the mail service.",
        "needs_release": False,
        "major": False,
    },
    "Assess risk and impact": {
        "impact": "low",
        "likelihood": "medium",
        "impact_assessment": "Mail unavailable for 20 minutes per server, at night.",
        "feasibility": "Messaging team, 4 hours, tested on the staging servers.",
        "backout_tested": True,
    },
    "Emergency approval (ECAB)": {
        "ecab_decision": "approve",
        "ecab_members": ["erin", "frank"],
        "ecab_reason": "Active exploitation of the mail server vulnerability.",
    },
    "Schedule change": {
        "planned_start": "2030-01-12T22:00:00Z",
        "planned_end": "2030-01-13T02:00:00Z",
        "change_window": "Saturday night window",
    },
    "Implement change": {
        "implementation_outcome": "success",
        "implementation_notes": "Both servers upgraded; smoke tests passed.",
        "actual_start": "2030-01-12T22:05:00Z",
        "actual_end": "2030-01-13T00:40:00Z",
    },
    "Back out change": {
        "backout_result": "restored",
        "backout_notes": "Snapshots restored; mail flows again on the old version.",
    },
    "Post-implementation review": {
        "objectives_met": True,
        "incidents_caused": 0,
        "pir_notes": "Upgrade done in the window, no incidents since.",
    },
    "Retrospective review": {
        "emergency_justified": True,
        "incidents_caused": 0,
        "review_notes": "The exploit was real; patching at once was right.",
    },
}
WORKER: dict[str, Actor] = {
    "Record and classify change": CHANGE_MANAGER,
    "Assess risk and impact": CHANGE_MANAGER,
    "Emergency approval (ECAB)": ECAB,
    "Schedule change": CHANGE_MANAGER,
    "Implement change": IMPLEMENTER,
    "Back out change": IMPLEMENTER,
    "Post-implementation review": CHANGE_MANAGER,
    "Retrospective review": CAB_MEMBERS[0],
}


def data(title: str, **overrides: Any) -> dict[str, Any]:
    result = {**copy.deepcopy(FORMS[title]), **overrides}
    return {k: v for k, v in result.items() if v is not None}


def request_change(orchestrator: Orchestrator, **payload: Any) -> int:
    """A request for change sent to the API as the message change_request."""
    outcome = orchestrator.deliver_message(
        "change_request", {}, {**REQUEST, **payload}, CHANGE_MANAGER
    )
    assert outcome.started is not None
    return outcome.started


def do(orchestrator: Orchestrator, title: str, iid: int, **overrides: Any) -> None:
    complete(orchestrator, WORKER[title], title, iid, data(title, **overrides))


def cab_votes(orchestrator: Orchestrator, iid: int, votes: list[str]) -> None:
    """Every CAB seat has its own approval task, all open at once; each member votes one."""
    tasks = tasks_of(orchestrator, CAB_MEMBERS[0], iid, "CAB approval")
    assert len(tasks) == 3
    assert {t.lane for t in tasks} == {"Change Advisory Board"}
    seats = [orchestrator.task(t.id, CAB_MEMBERS[0]).data["cab_seat"] for t in tasks]
    assert sorted(seats) == sorted(SEATS)
    for done, (member, task, vote) in enumerate(zip(CAB_MEMBERS, tasks, votes, strict=True), 1):
        assert view(orchestrator, iid).record["status"] == "Awaiting CAB approval"
        answer = {"vote": vote, "vote_reason": f"{vote} for {member.name}"}
        outcome = orchestrator.complete_task(task.id, answer, member)
        assert len(tasks_of(orchestrator, member, iid, "CAB approval")) == 3 - done
        if done < 3:  # the vote waits for every seat; a rejection ends the change at once
            assert outcome.status == "running"


# --------------------------------------------------------------------------- paths


@dataclass
class Expected:
    instance_id: int
    status: str
    closure: str
    authorisation: str
    completed: list[str]
    thrown: list[str]  # names of the messages the change sent to other processes
    risk_class: str | None = None


CLASSIFY, ASSESS, CAB, ECAB_TASK = (
    "Record and classify change", "Assess risk and impact", "CAB approval",
    "Emergency approval (ECAB)",
)
SCHEDULE, IMPLEMENT, BACKOUT, PIR, RETRO = (
    "Schedule change", "Implement change", "Back out change", "Post-implementation review",
    "Retrospective review",
)
CAB3 = [CAB, CAB, CAB]


def _normal_until_vote(orchestrator: Orchestrator, votes: list[str], **assessment: Any) -> int:
    iid = request_change(orchestrator)
    do(orchestrator, CLASSIFY, iid)
    assert view(orchestrator, iid).record["status"] == "Classified"
    do(orchestrator, ASSESS, iid, **assessment)
    cab_votes(orchestrator, iid, votes)
    return iid


def _after_approval(orchestrator: Orchestrator, iid: int, outcome: str = "success") -> None:
    assert open_titles(orchestrator, iid) == [SCHEDULE]
    do(orchestrator, SCHEDULE, iid)
    assert view(orchestrator, iid).record["status"] == "Scheduled"
    do(orchestrator, IMPLEMENT, iid, implementation_outcome=outcome)


def path_standard(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator, change_type="standard")
    do(orchestrator, CLASSIFY, iid, change_type="standard",
       standard_model="SCM-012 Add disk to VM")
    assert view(orchestrator, iid).record["status"] == "Authorised"
    _after_approval(orchestrator, iid)
    return Expected(iid, "Closed", "implemented",
                    "Pre-authorised standard change: SCM-012 Add disk to VM",
                    [CLASSIFY, SCHEDULE, IMPLEMENT], [])


def path_standard_failed(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator, change_type="standard")
    do(orchestrator, CLASSIFY, iid, change_type="standard", standard_model="SCM-007 Patch VM")
    _after_approval(orchestrator, iid, "failed")
    do(orchestrator, BACKOUT, iid)
    do(orchestrator, PIR, iid, objectives_met=False)
    return Expected(iid, "Closed", "backed out", "Pre-authorised standard change: SCM-007 Patch VM",
                    [CLASSIFY, SCHEDULE, IMPLEMENT, BACKOUT, PIR], [])


def path_normal_approved_2_of_3(orchestrator: Orchestrator) -> Expected:
    iid = _normal_until_vote(orchestrator, ["approve", "reject", "approve"])
    approvals = view(orchestrator, iid).data["approvals"]
    assert sorted(a["vote"] for a in approvals) == ["approve", "approve", "reject"]
    assert sorted(a["seat"] for a in approvals) == sorted(SEATS)
    _after_approval(orchestrator, iid)
    do(orchestrator, PIR, iid)
    return Expected(iid, "Closed", "implemented", "CAB: 2 of 3 approve, quorum 2",
                    [CLASSIFY, ASSESS, *CAB3, SCHEDULE, IMPLEMENT, PIR], [], "low")


def path_normal_rejected_2_of_3(orchestrator: Orchestrator) -> Expected:
    iid = _normal_until_vote(orchestrator, ["reject", "approve", "reject"])
    return Expected(iid, "Rejected", "rejected", "CAB: 1 of 3 approve, quorum 2",
                    [CLASSIFY, ASSESS, *CAB3], [], "low")


def path_normal_high_risk_needs_all_three(orchestrator: Orchestrator) -> Expected:
    iid = _normal_until_vote(orchestrator, ["approve", "approve", "reject"],
                             impact="high", likelihood="medium")
    return Expected(iid, "Rejected", "rejected", "CAB: 2 of 3 approve, quorum 3",
                    [CLASSIFY, ASSESS, *CAB3], [], "high")


def path_normal_failed_backed_out(orchestrator: Orchestrator) -> Expected:
    iid = _normal_until_vote(orchestrator, ["approve", "approve", "approve"])
    _after_approval(orchestrator, iid, "failed")
    assert open_titles(orchestrator, iid) == [BACKOUT]
    do(orchestrator, BACKOUT, iid)
    assert view(orchestrator, iid).record["status"] == "Backed out"
    do(orchestrator, PIR, iid, objectives_met=False, incidents_caused=1)
    return Expected(iid, "Closed", "backed out", "CAB: 3 of 3 approve, quorum 2",
                    [CLASSIFY, ASSESS, *CAB3, SCHEDULE, IMPLEMENT, BACKOUT, PIR], [], "low")


def _started_by(orchestrator: Orchestrator, message: str) -> str | None:
    """The key of the deployed process that a message starts, if any."""
    return next((p.key for p in orchestrator.processes()
                 if message in orchestrator.process(p.key).start_messages), None)


def _check_thrown(orchestrator: Orchestrator, iid: int, message: str) -> None:
    """The change's message started the receiving process if it is deployed, and the audit
    trail says so either way; a started instance is linked on both sides."""
    [(kind, event, targets)] = routed_events(orchestrator, iid)
    assert event == message
    receiver = _started_by(orchestrator, message)
    if receiver is None:
        assert (kind, targets) == ("event_not_routed", [])
        return
    assert kind == "event_routed"
    [target_id] = targets
    target = view(orchestrator, target_id)
    assert target.process_key == receiver
    assert linked(target, message, "incoming") == [iid]
    assert linked(view(orchestrator, iid), message, "outgoing") == [target_id]


def path_normal_needs_release(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator)
    do(orchestrator, CLASSIFY, iid, needs_release=True, release_version="2.4.1")
    do(orchestrator, ASSESS, iid)
    cab_votes(orchestrator, iid, ["approve", "approve", "reject"])
    _after_approval(orchestrator, iid)
    _check_thrown(orchestrator, iid, "release_request")
    do(orchestrator, PIR, iid)
    return Expected(iid, "Closed", "implemented", "CAB: 2 of 3 approve, quorum 2",
                    [CLASSIFY, ASSESS, *CAB3, SCHEDULE, IMPLEMENT, PIR], ["release_request"],
                    "low")


def path_normal_major(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator)
    do(orchestrator, CLASSIFY, iid, major=True)
    do(orchestrator, ASSESS, iid, impact="medium", likelihood="medium")
    cab_votes(orchestrator, iid, ["approve", "approve", "approve"])
    _after_approval(orchestrator, iid)
    _check_thrown(orchestrator, iid, "design_transition_start")
    do(orchestrator, PIR, iid)
    return Expected(iid, "Closed", "implemented", "CAB: 3 of 3 approve, quorum 2",
                    [CLASSIFY, ASSESS, *CAB3, SCHEDULE, IMPLEMENT, PIR],
                    ["design_transition_start"], "medium")


def path_emergency(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator, change_type="emergency")
    do(orchestrator, CLASSIFY, iid, change_type="emergency")
    assert [(t.title, t.lane) for t in view(orchestrator, iid).open_tasks] == [
        (ECAB_TASK, "Emergency CAB")]
    do(orchestrator, ECAB_TASK, iid)
    assert view(orchestrator, iid).record["status"] == "Authorised"
    assert open_titles(orchestrator, iid) == [IMPLEMENT]  # no schedule, no CAB
    do(orchestrator, IMPLEMENT, iid)
    assert [(t.title, t.lane) for t in view(orchestrator, iid).open_tasks] == [
        (RETRO, "Change Advisory Board")]
    do(orchestrator, RETRO, iid)
    return Expected(iid, "Closed", "implemented", "ECAB approve: erin, frank",
                    [CLASSIFY, ECAB_TASK, IMPLEMENT, RETRO], [])


def path_emergency_rejected(orchestrator: Orchestrator) -> Expected:
    iid = request_change(orchestrator, change_type="emergency")
    do(orchestrator, CLASSIFY, iid, change_type="emergency")
    do(orchestrator, ECAB_TASK, iid, ecab_decision="reject",
       ecab_reason="Can wait for Saturday's window as a normal change.")
    return Expected(iid, "Rejected", "rejected", "ECAB reject: erin, frank",
                    [CLASSIFY, ECAB_TASK], [])


PATHS: dict[str, Callable[[Orchestrator], Expected]] = {
    "standard": path_standard,
    "standard_failed": path_standard_failed,
    "normal_approved_2_of_3": path_normal_approved_2_of_3,
    "normal_rejected_2_of_3": path_normal_rejected_2_of_3,
    "normal_high_risk_needs_all_three": path_normal_high_risk_needs_all_three,
    "normal_failed_backed_out": path_normal_failed_backed_out,
    "normal_needs_release": path_normal_needs_release,
    "normal_major": path_normal_major,
    "emergency": path_emergency,
    "emergency_rejected": path_emergency_rejected,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_change_path_ends(library: Orchestrator, path: str) -> None:
    expected = PATHS[path](library)

    change = view(library, expected.instance_id)
    assert change.status == "completed"
    assert change.error is None
    assert change.open_tasks == []
    assert change.business_key.startswith("CHG-")
    assert change.data["change_number"] == change.business_key
    assert change.data["closure"] == expected.closure
    assert change.data["authorisation"] == expected.authorisation
    assert change.data.get("risk_class") == expected.risk_class
    assert change.record == {
        "title": FORMS[CLASSIFY]["summary"],
        "priority": expected.risk_class,
        "service": "Email",
        "assignee_group": None,
        "status": expected.status,
    }
    events = library.events(expected.instance_id, SYSTEM)
    assert [e.task_name for e in events if e.kind == "task_completed"] == expected.completed
    assert [e.kind for e in events].count("instance_completed") == 1
    assert [name for _, name, _ in routed_events(library, expected.instance_id)] == expected.thrown


# --------------------------------------------------------------------------- decision table

RISK = {
    ("high", "high"): ("high", 3), ("high", "medium"): ("high", 3),
    ("high", "low"): ("medium", 2),
    ("medium", "high"): ("high", 3), ("medium", "medium"): ("medium", 2),
    ("medium", "low"): ("low", 2),
    ("low", "high"): ("medium", 2), ("low", "medium"): ("low", 2), ("low", "low"): ("low", 2),
}


def test_risk_class_and_quorum_follow_the_decision_table_row_by_row(library: Orchestrator) -> None:
    seen = {}
    for impact, likelihood in RISK:
        iid = request_change(library)
        do(library, CLASSIFY, iid)
        do(library, ASSESS, iid, impact=impact, likelihood=likelihood)
        change = view(library, iid)
        seen[(impact, likelihood)] = (change.data["risk_class"], change.data["quorum"])
        assert change.record["priority"] == change.data["risk_class"]
        assert change.data["approvers"] == SEATS
        assert len(tasks_of(library, CAB_MEMBERS[1], iid, CAB)) == 3
    assert seen == RISK


# --------------------------------------------------------------------------- forms

Steps = list[tuple[str, dict[str, Any]]]
STANDARD: Steps = [(CLASSIFY, {"change_type": "standard", "standard_model": "SCM-012"})]
EMERGENCY: Steps = [(CLASSIFY, {"change_type": "emergency"})]
FAILED: Steps = [*STANDARD, (SCHEDULE, {}), (IMPLEMENT, {"implementation_outcome": "failed"})]

# (task, the tasks before it, bad data, the field the error names)
INVALID: dict[str, tuple[str, Steps, dict[str, Any], str]] = {
    "classify_standard_without_model": (
        CLASSIFY, [], data(CLASSIFY, change_type="standard"), "/standard_model"),
    "classify_release_without_version": (
        CLASSIFY, [], data(CLASSIFY, needs_release=True), "/release_version"),
    "classify_no_service": (CLASSIFY, [], data(CLASSIFY, services=[]), "/services"),
    "assess_unknown_impact": (
        ASSESS, [(CLASSIFY, {})], data(ASSESS, impact="extreme"), "/impact"),
    "cab_vote_abstain": (
        CAB, [(CLASSIFY, {}), (ASSESS, {})], {"vote": "abstain", "vote_reason": "n/a"}, "/vote"),
    "ecab_single_member": (
        ECAB_TASK, EMERGENCY, data(ECAB_TASK, ecab_members=["erin"]), "/ecab_members"),
    "schedule_start_not_a_date": (
        SCHEDULE, STANDARD, data(SCHEDULE, planned_start="next Saturday"), "/planned_start"),
    "implement_unknown_outcome": (
        IMPLEMENT, [*STANDARD, (SCHEDULE, {})],
        data(IMPLEMENT, implementation_outcome="partly"), "/implementation_outcome"),
    "backout_notes_too_short": (
        BACKOUT, FAILED, data(BACKOUT, backout_notes="ok"), "/backout_notes"),
    "pir_negative_incidents": (
        PIR, [*FAILED, (BACKOUT, {})], data(PIR, incidents_caused=-1), "/incidents_caused"),
    "retrospective_not_boolean": (
        RETRO, [*EMERGENCY, (ECAB_TASK, {}), (IMPLEMENT, {})],
        data(RETRO, emergency_justified="yes"), "/emergency_justified"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_change_form_rejects_invalid_data(library: Orchestrator, case: str) -> None:
    title, before, bad, pointer = INVALID[case]
    iid = request_change(library)
    for earlier, overrides in before:
        do(library, earlier, iid, **overrides)
    worker = CAB_MEMBERS[0] if title == CAB else WORKER[title]
    task = tasks_of(library, worker, iid, title)[0]
    open_before, events_before = open_titles(library, iid), len(library.events(iid, SYSTEM))

    with pytest.raises(FormInvalid) as refused:
        library.complete_task(task.id, bad, worker)

    assert pointer in [e.field for e in refused.value.errors]
    assert open_titles(library, iid) == open_before
    assert len(library.events(iid, SYSTEM)) == events_before
    valid = {"vote": "approve", "vote_reason": "fine"} if title == CAB else data(title)
    assert library.complete_task(task.id, valid, worker).error is None
