"""Problem management (bpmn/problem) along every path, its forms and decision table, and its
links: incident -> problem (message problem_raise), trend analysis -> problem, problem ->
change (message change_request)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.access import SYSTEM
from engine.errors import FormInvalid
from engine.orchestrator import Orchestrator
from tests.integration.conftest import (
    RESOLVER,
    SERVICE_DESK,
    complete_current,
    form_data,
    notifications,
)
from tests.integration.process_driver import (
    PROBLEM_MANAGER,
    complete,
    linked,
    open_titles,
    routed_events,
    tasks_of,
    view,
)

RAISED = {
    "source_key": "INC-000777",
    "summary": "Mail client loses its profile",
    "service": "Email",
    "ci": "APP-0007",
}
SYMPTOMS = "Outlook says it cannot connect; the profile cache points to a missing folder."
WORKAROUND = "Delete the profile cache folder and restart the mail client."
ROOT_CAUSE = "Client update 16.0.4 writes the profile cache path with a wrong drive letter."
FIX = "Deploy mail client 16.0.5, which writes the profile cache path correctly."

# Canonical valid data for every user task of the problem process, by task title.
FORMS: dict[str, dict[str, Any]] = {
    "Record and classify problem": {
        "summary": "Mail client loses its profile after update 16.0.4",
        "description": "Twelve incidents in two weeks (INC-000777 and others).",
        "service": "Email",
        "ci": "APP-0007",
        "category": "software",
        "detected_by": "incident",
        "impact": 2,
        "urgency": 1,
    },
    "Root-cause analysis": {
        "assignment_group": "Messaging",
        "analysis_method": "five-whys",
        "root_cause": ROOT_CAUSE,
        "workaround_available": True,
        "fix_needs_change": True,
        "proposed_fix": FIX,
    },
    "Record workaround": {"workaround": WORKAROUND, "workaround_tested": True},
    "Record known error": {
        "known_error_id": "KE-0042",
        "symptoms": SYMPTOMS,
        "workaround": WORKAROUND,
        "root_cause": ROOT_CAUSE,
    },
    "Review effectiveness": {
        "resolution_effective": True,
        "incidents_since_fix": 0,
        "closure_code": "resolved",
        "review_notes": "No incident with these symptoms since 16.0.5 was rolled out.",
    },
}
# Who works each task (the lane's role).
WORKER = {
    "Record and classify problem": PROBLEM_MANAGER,
    "Root-cause analysis": RESOLVER,
    "Record workaround": RESOLVER,
    "Record known error": PROBLEM_MANAGER,
    "Review effectiveness": PROBLEM_MANAGER,
}


def data(title: str, **overrides: Any) -> dict[str, Any]:
    result = {**copy.deepcopy(FORMS[title]), **overrides}
    return {k: v for k, v in result.items() if v is not None}


def raise_problem(orchestrator: Orchestrator, **payload: Any) -> int:
    """Start a problem the way the API does: the message problem_raise, no correlation."""
    outcome = orchestrator.deliver_message(
        "problem_raise", {}, {**RAISED, **payload}, PROBLEM_MANAGER
    )
    assert outcome.received_by == []
    assert outcome.started is not None
    return outcome.started


def do(orchestrator: Orchestrator, title: str, iid: int, **overrides: Any) -> None:
    complete(orchestrator, WORKER[title], title, iid, data(title, **overrides))


# --------------------------------------------------------------------------- paths


@dataclass
class Expected:
    instance_id: int
    closure_code: str
    completed: list[str]
    notice_contains: list[str]
    changes: list[int] = field(default_factory=list)


def path_workaround_known_error_change(orchestrator: Orchestrator) -> Expected:
    iid = raise_problem(orchestrator)
    do(orchestrator, "Record and classify problem", iid)
    assert view(orchestrator, iid).record["status"] == "Under investigation"
    do(orchestrator, "Root-cause analysis", iid)
    assert open_titles(orchestrator, iid) == ["Record workaround"]
    do(orchestrator, "Record workaround", iid)
    do(orchestrator, "Record known error", iid)
    key = view(orchestrator, iid).business_key
    [(kind, event, targets)] = routed_events(orchestrator, iid)
    assert (kind, event) == ("event_routed", "change_request")
    change = view(orchestrator, targets[0])
    assert change.process_key == "change"
    assert change.status == "running"
    assert change.data["source_key"] == key
    summary = FORMS["Record and classify problem"]["summary"]
    assert change.data["summary"] == f"Fix for {key}: {summary}"
    assert change.data["description"] == FIX
    assert (change.data["change_type"], change.data["ci"]) == ("normal", "APP-0007")
    assert change.data["services"] == ["Email"]
    assert change.record["status"] == "Requested"
    assert [t.title for t in change.open_tasks] == ["Record and classify change"]
    assert view(orchestrator, iid).record["status"] == "Change requested"
    do(orchestrator, "Review effectiveness", iid)
    return Expected(iid, "resolved",
                    ["Record and classify problem", "Root-cause analysis", "Record workaround",
                     "Record known error", "Review effectiveness"],
                    [f"Workaround: {WORKAROUND}", f"Root cause: {ROOT_CAUSE}"], targets)


def path_no_workaround_no_change(orchestrator: Orchestrator) -> Expected:
    iid = raise_problem(orchestrator, ci=None)
    do(orchestrator, "Record and classify problem", iid, ci=None, detected_by="monitoring",
       impact=3, urgency=3)
    do(orchestrator, "Root-cause analysis", iid, workaround_available=False,
       fix_needs_change=False, proposed_fix=None, analysis_method="kepner-tregoe")
    assert open_titles(orchestrator, iid) == ["Record known error"]
    do(orchestrator, "Record known error", iid, workaround=None)
    assert routed_events(orchestrator, iid) == []
    assert view(orchestrator, iid).record["status"] == "Known error"
    do(orchestrator, "Review effectiveness", iid, resolution_effective=False,
       incidents_since_fix=3, closure_code="accepted-risk")
    return Expected(iid, "accepted-risk",
                    ["Record and classify problem", "Root-cause analysis", "Record known error",
                     "Review effectiveness"],
                    ["Workaround: No workaround yet."])


PATHS: dict[str, Callable[[Orchestrator], Expected]] = {
    "workaround_known_error_change": path_workaround_known_error_change,
    "no_workaround_no_change": path_no_workaround_no_change,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_problem_path_ends_closed(library: Orchestrator, path: str) -> None:
    expected = PATHS[path](library)
    iid = expected.instance_id
    problem = view(library, iid)
    assert problem.status == "completed"
    assert problem.error is None
    assert problem.open_tasks == []
    key = problem.business_key
    assert key.startswith("PRB-")
    assert problem.data["problem_number"] == key
    assert problem.data["source_key"] == RAISED["source_key"]
    assert problem.data["closure_code"] == expected.closure_code
    assert problem.record["status"] == "Closed"
    assert problem.record["title"] == FORMS["Record and classify problem"]["summary"]
    assert problem.record["service"] == "Email"
    assert problem.record["assignee_group"] == "Messaging"
    events = library.events(iid, SYSTEM)
    assert events[0].kind == "instance_started"
    assert [e.task_name for e in events if e.kind == "task_completed"] == expected.completed
    assert [e.kind for e in events].count("instance_completed") == 1
    # the known error reached the service desk (visible to incident handling)
    [notice] = notifications(library, iid)
    assert (notice.recipient, notice.recipient_role) == (None, "Service Desk")
    summary = FORMS["Record and classify problem"]["summary"]
    assert notice.subject == f"Known error KE-0042: {summary}"
    assert f"Known error KE-0042 (problem {key}, service Email)" in notice.body
    assert all(part in notice.body for part in expected.notice_contains)
    assert sorted(linked(problem, "change_request", "outgoing")) == expected.changes
    for change_id in expected.changes:
        assert linked(view(library, change_id), "change_request", "incoming") == [iid]


# --------------------------------------------------------------------------- decision table

PRIORITY = {
    (1, 1): 1, (1, 2): 2, (1, 3): 3,
    (2, 1): 2, (2, 2): 3, (2, 3): 4,
    (3, 1): 3, (3, 2): 4, (3, 3): 5,
}


def test_priority_follows_the_decision_table_row_by_row(library: Orchestrator) -> None:
    seen = {}
    for impact, urgency in PRIORITY:
        iid = raise_problem(library)
        do(library, "Record and classify problem", iid, impact=impact, urgency=urgency)
        problem = view(library, iid)
        seen[(impact, urgency)] = problem.data["priority"]
        assert problem.record["priority"] == str(problem.data["priority"])
        assert tasks_of(library, RESOLVER, iid, "Root-cause analysis")
    assert seen == PRIORITY


# --------------------------------------------------------------------------- forms

# (task, the tasks before it as (title, overrides), bad data, the field the error names)
INVALID: dict[str, tuple[str, list[tuple[str, dict[str, Any]]], dict[str, Any], str]] = {
    "record_impact_out_of_range": (
        "Record and classify problem", [], data("Record and classify problem", impact=4),
        "/impact"),
    "root_cause_fix_without_description": (
        "Root-cause analysis", [("Record and classify problem", {})],
        data("Root-cause analysis", proposed_fix=None), "/proposed_fix"),
    "workaround_missing": (
        "Record workaround",
        [("Record and classify problem", {}), ("Root-cause analysis", {})],
        {"workaround_tested": True}, "/workaround"),
    "known_error_bad_id": (
        "Record known error",
        [("Record and classify problem", {}),
         ("Root-cause analysis", {"workaround_available": False})],
        data("Record known error", known_error_id="42"), "/known_error_id"),
    "review_unknown_closure_code": (
        "Review effectiveness",
        [("Record and classify problem", {}),
         ("Root-cause analysis", {"workaround_available": False, "fix_needs_change": False}),
         ("Record known error", {})],
        data("Review effectiveness", closure_code="fixed-probably"), "/closure_code"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_problem_form_rejects_invalid_data(library: Orchestrator, case: str) -> None:
    title, before, bad, pointer = INVALID[case]
    iid = raise_problem(library)
    for earlier, overrides in before:
        do(library, earlier, iid, **overrides)
    events_before = [e.kind for e in library.events(iid, SYSTEM)]

    with pytest.raises(FormInvalid) as refused:
        complete(library, WORKER[title], title, iid, bad)

    assert pointer in [e.field for e in refused.value.errors]
    assert [e.kind for e in library.events(iid, SYSTEM)] == events_before
    assert open_titles(library, iid) == [title]
    complete(library, WORKER[title], title, iid, data(title))  # the valid answer still goes in


# --------------------------------------------------------------------------- links


def _resolve_incident(
    orchestrator: Orchestrator, raise_it: bool, with_ci: bool = True
) -> tuple[int, str]:
    started = orchestrator.start_instance("incident", {}, SERVICE_DESK)
    iid = started.instance_id
    record = form_data("Record and classify")
    if not with_ci:  # the configuration item is optional: leave it out entirely
        del record["ci"]
    complete_current(orchestrator, SERVICE_DESK, "Record and classify", record, iid)
    complete_current(orchestrator, RESOLVER, "Investigate and diagnose", instance_id=iid)
    resolve = form_data("Resolve", resolution_code="workaround", raise_problem=raise_it)
    complete_current(orchestrator, RESOLVER, "Resolve", resolve, iid)
    return iid, started.business_key


@pytest.mark.parametrize("ci", ["SRV-0042", None], ids=["with_ci", "without_ci"])
def test_resolving_an_incident_with_raise_problem_starts_a_linked_problem(
    library: Orchestrator, ci: str | None
) -> None:
    incident_id, incident_key = _resolve_incident(library, True, with_ci=ci is not None)
    if ci is None:
        assert "ci" not in view(library, incident_id).data

    incident = view(library, incident_id)
    assert incident.status == "running"  # waits for the caller's confirmation, as before
    assert incident.record["status"] == "Resolved"
    [problem_id] = linked(incident, "problem_raise", "outgoing")
    assert routed_events(library, incident_id) == [("event_routed", "problem_raise", [problem_id])]
    problem = view(library, problem_id)
    assert problem.process_key == "problem"
    assert linked(problem, "problem_raise", "incoming") == [incident_id]
    assert problem.data["raised"] == {
        "source_key": incident_key, "summary": "Mail is down for me", "service": "Email",
        "ci": ci,
    }
    assert (problem.data["source_key"], problem.data["ci"]) == (incident_key, ci)
    assert problem.record == {"title": "Mail is down for me", "priority": None,
                              "service": "Email", "assignee_group": None, "status": "New"}
    assert [(t.title, t.lane) for t in problem.open_tasks] == [
        ("Record and classify problem", "Problem Manager")]


def test_resolving_an_incident_without_raise_problem_raises_nothing(library: Orchestrator) -> None:
    incident_id, _ = _resolve_incident(library, False)
    assert view(library, incident_id).related == []
    assert routed_events(library, incident_id) == []
    assert view(library, incident_id).data["raise_problem"] is False


def test_incident_raises_problem_which_requests_a_change(library: Orchestrator) -> None:
    incident_id, incident_key = _resolve_incident(library, True)
    [problem_id] = linked(view(library, incident_id), "problem_raise", "outgoing")
    for title in ("Record and classify problem", "Root-cause analysis", "Record workaround",
                  "Record known error"):
        do(library, title, problem_id)
    problem = view(library, problem_id)
    [change_id] = linked(problem, "change_request", "outgoing")
    change = view(library, change_id)
    assert linked(change, "change_request", "incoming") == [problem_id]
    assert change.data["source_key"] == problem.business_key
    assert problem.data["source_key"] == incident_key
    assert linked(problem, "problem_raise", "incoming") == [incident_id]


# --------------------------------------------------------------------------- trend analysis

TREND = {
    "period_start": "2030-01-01",
    "period_end": "2030-01-31",
    "service": "Email",
    "incidents_analysed": 140,
    "findings": "31 incidents with 'cannot connect' after client update 16.0.4.",
    "problem_found": True,
    "summary": "Mail client loses its profile after update 16.0.4",
}


@pytest.mark.parametrize("found", [True, False], ids=["problem_found", "no_problem"])
def test_trend_analysis_raises_a_problem_only_when_one_is_found(
    library: Orchestrator, found: bool
) -> None:
    started = library.start_instance("problem_trend", {}, PROBLEM_MANAGER)
    answer = {**TREND, "problem_found": found}
    if not found:
        del answer["summary"]
    outcome = complete(library, PROBLEM_MANAGER, "Analyse incident trends", started.instance_id,
                       answer)

    assert outcome.status == "completed"
    trend = view(library, started.instance_id)
    assert trend.record["title"] == "Incident trends of Email, 2030-01-01 to 2030-01-31"
    assert trend.record["status"] == ("Problem raised" if found else "No problem found")
    raised = linked(trend, "problem_raise", "outgoing")
    assert len(raised) == (1 if found else 0)
    for problem_id in raised:
        problem = view(library, problem_id)
        assert problem.data["source_key"] == started.business_key
        assert (problem.data["summary"], problem.data["ci"]) == (TREND["summary"], None)
        assert linked(problem, "problem_raise", "incoming") == [started.instance_id]


def test_trend_analysis_form_needs_a_summary_when_a_problem_is_found(library: Orchestrator) -> None:
    started = library.start_instance("problem_trend", {}, PROBLEM_MANAGER)
    answer = {k: v for k, v in TREND.items() if k != "summary"}
    with pytest.raises(FormInvalid) as refused:
        complete(library, PROBLEM_MANAGER, "Analyse incident trends", started.instance_id,
                 {**answer, "period_end": "31.01.2030"})
    assert {e.field for e in refused.value.errors} == {"/summary", "/period_end"}
    assert open_titles(library, started.instance_id) == ["Analyse incident trends"]
