"""Release and deployment management (bpmn/release) along every path the diagram offers.

A release starts when change management (or any caller) sends ``release_request``; a stable
release sends ``configuration_update``, which starts configuration management. Every
outcome is reported to the Change Manager role.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from engine.access import SYSTEM, Actor
from engine.clock import ManualClock
from engine.errors import FormInvalid, NotAllowed
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications, snapshot, timers_of

RELEASE_MANAGER = Actor("rhea", frozenset({"Release Manager"}))
RELEASE_ENGINEER = Actor("reto", frozenset({"Release Engineer"}))
SERVICE_OWNER = Actor("sofia", frozenset({"Service Owner"}))
CONFIGURATION_MANAGER = Actor("carl", frozenset({"Configuration Manager"}))
CHANGE_MANAGER = Actor("chiara", frozenset({"Change Manager"}))

CHANGE_KEY = "CHG-000042"
REQUEST = {
    "source_key": CHANGE_KEY,
    "summary": "Upgrade the mail gateway",
    "service": "Email",
    "ci": "SRV-0042",
    "version": "2.4",
}
CRITERIA = [
    "Mail is delivered within one minute",
    "Spam filter blocks the test corpus",
    "Webmail login works with single sign-on",
]
RELEASE_NAME = "Mail gateway 2.4"

# Canonical valid data per task title; the actor who works it.
FORMS: dict[str, tuple[Actor, dict[str, Any]]] = {
    "Plan release with customers": (RELEASE_MANAGER, {
        "release_name": RELEASE_NAME,
        "scope": "Replace mail gateway 2.3 by 2.4 on both gateway nodes.",
        "target_date": "2030-02-01",
        "acceptance_criteria": CRITERIA,
        "customers_consulted": "Mail service customer board (J. Ortiz, P. Lang)",
    }),
    "Build release": (RELEASE_ENGINEER, {
        "build_version": "2.4.0-rc1",
        "build_notes": "Built from tag v2.4.0-rc1 in the controlled library.",
    }),
    "Test against acceptance criteria": (RELEASE_ENGINEER, {
        "test_environment": "staging-2",
        "results": [{"criterion": c, "passed": True, "notes": "ok"} for c in CRITERIA],
    }),
    "Approve deployment": (SERVICE_OWNER, {
        "approved": True,
        "approval_notes": "Deploy in Saturday's maintenance window.",
    }),
    "Deploy release": (RELEASE_ENGINEER, {
        "deployed_version": "2.4.0",
        "deployment_notes": "Deployed 06:00-06:40, both nodes, smoke tests green.",
    }),
    "Early-life support review": (RELEASE_MANAGER, {
        "incidents_seen": 2,
        "incident_refs": [],
        "verdict": "stable",
        "els_notes": "Two unrelated password resets; no incident caused by the release.",
    }),
}



@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only the models these tests run (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "release", "configuration")

def request_release(orchestrator: Orchestrator, **overrides: Any) -> tuple[int, str]:
    """Send release_request as change management does; (instance id, business key)."""
    outcome = orchestrator.deliver_message(
        "release_request", {}, {**REQUEST, **overrides}, CHANGE_MANAGER
    )
    assert outcome.received_by == []
    assert outcome.started is not None
    view = orchestrator.instance(outcome.started, RELEASE_MANAGER)
    return outcome.started, view.business_key


def complete(
    orchestrator: Orchestrator, iid: int, title: str, **overrides: Any
) -> None:
    actor, data = FORMS[title]
    task = find_task(orchestrator, actor, title, iid)
    orchestrator.complete_task(task.id, {**data, **overrides}, actor)


def results_failing(*failed: str, untested: tuple[str, ...] = ()) -> dict[str, Any]:
    """Test form data in which ``failed`` criteria fail and ``untested`` ones are missing."""
    return {
        "test_environment": "staging-2",
        "results": [
            {"criterion": c, "passed": c not in failed, "notes": "see test log"}
            for c in CRITERIA if c not in untested
        ],
    }


def status(orchestrator: Orchestrator, iid: int) -> str | None:
    return orchestrator.instance(iid, RELEASE_MANAGER).record["status"]


def plan_build_test(orchestrator: Orchestrator, iid: int) -> None:
    complete(orchestrator, iid, "Plan release with customers")
    assert status(orchestrator, iid) == "Building"
    complete(orchestrator, iid, "Build release")
    complete(orchestrator, iid, "Test against acceptance criteria")
    assert status(orchestrator, iid) == "Awaiting approval"


def deploy_and_wait(orchestrator: Orchestrator, clock: ManualClock, iid: int) -> None:
    """Approve, deploy, and let the early-life support period (P7D) run out."""
    complete(orchestrator, iid, "Approve deployment")
    complete(orchestrator, iid, "Deploy release")
    view = orchestrator.instance(iid, RELEASE_MANAGER)
    assert view.record["status"] == "Early-life support"
    assert view.open_tasks == []
    [els] = timers_of(orchestrator, iid)
    assert els.due_at == clock.now() + timedelta(days=7)
    clock.advance(timedelta(days=7) - timedelta(minutes=1))
    assert orchestrator.fire_due_timers().timers == 0
    clock.advance(timedelta(minutes=2))
    assert orchestrator.fire_due_timers().timers == 1
    find_task(orchestrator, RELEASE_MANAGER, "Early-life support review", iid)


# --------------------------------------------------------------------------- the paths


@dataclass
class Expected:
    instance_id: int
    business_key: str
    outcome: str  # release_outcome: successful, unstable, abandoned, rejected
    status: str
    test_rounds: int
    completed_tasks: int
    configuration_updated: bool = False
    feedback_mentions: tuple[str, ...] = ()


def path_passes_first_time(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = request_release(orchestrator)
    plan_build_test(orchestrator, iid)
    deploy_and_wait(orchestrator, clock, iid)
    complete(orchestrator, iid, "Early-life support review")
    return Expected(iid, key, "successful", "Closed", 1, 6, configuration_updated=True,
                    feedback_mentions=("2.4.0", "2 incident(s)", "stable"))


def path_fails_once_then_passes(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = request_release(orchestrator)
    complete(orchestrator, iid, "Plan release with customers")
    complete(orchestrator, iid, "Build release")
    complete(orchestrator, iid, "Test against acceptance criteria", **results_failing(CRITERIA[1]))
    view = orchestrator.instance(iid, RELEASE_MANAGER)
    assert view.record["status"] == "Rework"
    assert view.data["failed_criteria"] == [CRITERIA[1]]
    assert [t.title for t in view.open_tasks] == ["Build release"]
    complete(orchestrator, iid, "Build release", build_version="2.4.0-rc2")
    complete(orchestrator, iid, "Test against acceptance criteria")
    deploy_and_wait(orchestrator, clock, iid)
    complete(orchestrator, iid, "Early-life support review")
    return Expected(iid, key, "successful", "Closed", 2, 8, configuration_updated=True)


def path_fails_three_times(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = request_release(orchestrator)
    complete(orchestrator, iid, "Plan release with customers")
    rounds = [
        results_failing(CRITERIA[0]),
        results_failing(untested=(CRITERIA[2],)),  # a criterion without a result fails
        results_failing(CRITERIA[0], CRITERIA[1]),
    ]
    for number, results in enumerate(rounds, 1):
        complete(orchestrator, iid, "Build release", build_version=f"2.4.0-rc{number}")
        complete(orchestrator, iid, "Test against acceptance criteria", **results)
        if number < len(rounds):
            assert status(orchestrator, iid) == "Rework"
    return Expected(iid, key, "abandoned", "Abandoned", 3, 7,
                    feedback_mentions=("3 failed test rounds", CRITERIA[0], CRITERIA[1]))


def path_approval_refused(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = request_release(orchestrator)
    plan_build_test(orchestrator, iid)
    complete(orchestrator, iid, "Approve deployment", approved=False,
             approval_notes="Quarter-end closing: no deployments this month.")
    return Expected(iid, key, "rejected", "Not approved", 1, 4,
                    feedback_mentions=("not approved", "Quarter-end closing"))


def path_unstable_after_deployment(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = request_release(orchestrator)
    plan_build_test(orchestrator, iid)
    deploy_and_wait(orchestrator, clock, iid)
    complete(orchestrator, iid, "Early-life support review", incidents_seen=9,
             incident_refs=["INC-000101", "INC-000102"], verdict="unstable")
    return Expected(iid, key, "unstable", "Unstable", 1, 6,
                    feedback_mentions=("9 incident(s)", "back-out"))


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "passes_first_time": path_passes_first_time,
    "fails_once_then_passes": path_fails_once_then_passes,
    "fails_three_times_abandoned": path_fails_three_times,
    "approval_refused": path_approval_refused,
    "unstable_after_deployment": path_unstable_after_deployment,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_release_path_ends_closed_and_reports_to_change(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    view = orchestrator.instance(iid, RELEASE_MANAGER)
    assert (view.status, view.error, view.open_tasks) == ("completed", None, [])
    assert view.record["title"] == RELEASE_NAME
    assert view.record["service"] == "Email"
    assert view.record["status"] == expected.status
    assert view.data["release_outcome"] == expected.outcome
    assert view.data["test_rounds"] == expected.test_rounds
    assert view.data["change_key"] == CHANGE_KEY
    assert view.data["ci"] == "SRV-0042"
    assert timers_of(orchestrator, iid) == []
    kinds = Counter(e.kind for e in orchestrator.events(iid, SYSTEM))
    assert kinds["task_completed"] == expected.completed_tasks
    assert kinds["instance_completed"] == 1

    [feedback] = notifications(orchestrator, iid)
    assert (feedback.recipient, feedback.recipient_role) == (None, "Change Manager")
    assert feedback.subject == f"Release {key} {expected.outcome} (change {CHANGE_KEY})"
    assert feedback.body == view.data["release_feedback"]
    for words in expected.feedback_mentions:
        assert words in feedback.body

    configuration_links = [r for r in view.related if r["via"] == "configuration_update"]
    assert len(configuration_links) == int(expected.configuration_updated)


def test_stable_release_starts_configuration_management_linked_both_ways(
    orchestrator: Orchestrator, clock: ManualClock
) -> None:
    expected = path_passes_first_time(orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    [link] = orchestrator.instance(iid, RELEASE_MANAGER).related
    assert (link["via"], link["direction"]) == ("configuration_update", "outgoing")
    cfg = orchestrator.instance(link["instance_id"], CONFIGURATION_MANAGER)
    assert cfg.process_key == "configuration"
    assert cfg.business_key.startswith("CFG-")
    assert cfg.related == [{"instance_id": iid, "via": "configuration_update",
                            "direction": "incoming"}]
    assert cfg.data["update"] == {"source_key": key, "ci": "SRV-0042", "version": "2.4.0",
                                  "release": RELEASE_NAME, "change": CHANGE_KEY}
    assert cfg.record == {"title": "Update of SRV-0042 to version 2.4.0", "priority": None,
                          "service": None, "assignee_group": None,
                          "status": "pending verification"}
    events = [(e.kind, e.details.get("event")) for e in orchestrator.events(iid, SYSTEM)]
    assert ("event_routed", "configuration_update") in events

    # The chain goes on: the configuration manager verifies and the new version is recorded.
    task = find_task(orchestrator, CONFIGURATION_MANAGER, "Verify CI update", cfg.id)
    orchestrator.complete_task(task.id, {"ci": "SRV-0042", "new_version": "2.4.0",
                                         "verified": True}, CONFIGURATION_MANAGER)
    cfg = orchestrator.instance(cfg.id, CONFIGURATION_MANAGER)
    assert cfg.status == "completed"
    assert cfg.data["baseline"]["version"] == "2.4.0"
    assert cfg.data["baseline"]["release"] == key
    assert cfg.data["baseline"]["change"] == CHANGE_KEY


# --------------------------------------------------------------------------- starting


def test_each_release_request_starts_its_own_release(orchestrator: Orchestrator) -> None:
    first, first_key = request_release(orchestrator)
    # a request without summary or service, as a caller outside change management may send
    second, second_key = request_release(orchestrator, source_key="CHG-000043", summary=None,
                                         service=None)

    assert (first_key, second_key) == ("REL-000001", "REL-000002")
    one = orchestrator.instance(first, RELEASE_MANAGER)
    two = orchestrator.instance(second, RELEASE_MANAGER)
    assert one.data["requested"] == REQUEST
    assert (one.data["release_number"], one.data["requested_version"]) == (first_key, "2.4")
    assert one.record["title"] == "Upgrade the mail gateway"
    assert one.record["status"] == "Planning"
    assert two.data["change_key"] == "CHG-000043"
    assert two.record["title"] == f"Release {second_key}"
    assert (one.record["service"], two.data["service"]) == ("Email", "")
    for view in (one, two):
        assert [(t.title, t.lane) for t in view.open_tasks] == [
            ("Plan release with customers", "Release Manager")
        ]
    kinds = [e.kind for e in orchestrator.events(first, SYSTEM)]
    assert kinds == ["instance_started", "message_received"]


def test_release_tasks_belong_to_their_lanes(orchestrator: Orchestrator) -> None:
    iid, _ = request_release(orchestrator)
    plan_build_test(orchestrator, iid)
    task = find_task(orchestrator, SERVICE_OWNER, "Approve deployment", iid)
    assert task.lane == "Service Owner"
    for outsider in (RELEASE_ENGINEER, RELEASE_MANAGER):
        with pytest.raises(NotAllowed):
            orchestrator.complete_task(task.id, FORMS["Approve deployment"][1], outsider)


# --------------------------------------------------------------------------- forms


def _advance_to(orchestrator: Orchestrator, clock: ManualClock, title: str) -> int:
    """A release whose open task is ``title`` (earlier tasks completed with valid data)."""
    iid, _ = request_release(orchestrator)
    for earlier in FORMS:
        if earlier == title:
            return iid
        complete(orchestrator, iid, earlier)
        if earlier == "Deploy release":
            clock.advance(timedelta(days=8))
            orchestrator.fire_due_timers()
    raise AssertionError(title)


INVALID: dict[str, tuple[dict[str, Any], set[str]]] = {
    "Plan release with customers": (
        {"acceptance_criteria": [], "target_date": "next Friday", "release_name": None},
        {"/acceptance_criteria", "/target_date", "/release_name"},
    ),
    "Build release": ({"build_version": "", "colour": "red"}, {"/build_version", "/colour"}),
    "Test against acceptance criteria": (
        {"results": [{"criterion": CRITERIA[0], "passed": "yes"}, {"passed": True}]},
        {"/results/0/passed", "/results/1/criterion"},
    ),
    "Approve deployment": ({"approved": False, "approval_notes": None}, {"/approval_notes"}),
    "Deploy release": ({"deployed_version": 240, "deployment_notes": "ok"},
                       {"/deployed_version", "/deployment_notes"}),
    "Early-life support review": ({"incidents_seen": -1, "verdict": "fine"},
                                  {"/incidents_seen", "/verdict"}),
}


@pytest.mark.parametrize("title", list(INVALID))
def test_release_form_rejects_invalid_data(
    orchestrator: Orchestrator, clock: ManualClock, title: str
) -> None:
    iid = _advance_to(orchestrator, clock, title)
    actor, valid = FORMS[title]
    changes, fields = INVALID[title]
    data = {k: v for k, v in {**valid, **changes}.items() if v is not None}
    task = find_task(orchestrator, actor, title, iid)
    before = snapshot(orchestrator, iid)

    with pytest.raises(FormInvalid) as caught:
        orchestrator.complete_task(task.id, data, actor)

    assert {e.field for e in caught.value.errors} == fields
    assert all(e.message for e in caught.value.errors)
    assert snapshot(orchestrator, iid) == before
