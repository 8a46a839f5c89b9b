"""Design and transition of new or changed services (bpmn/design_transition), every path.

Change management starts it with the message design_transition_start for a major change;
the transition goes through release management with the message release_request. When the
release model is in the library it is deployed too and the message starts a release;
without it the throw is recorded as not routed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.access import SYSTEM
from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from tests.integration.conftest import LIBRARY, deploy_models, find_task
from tests.support.case_processes import (
    AUDITOR,
    DESIGN_REQUEST,
    DESIGN_TRANSITION,
    SERVICE_DESIGN,
    complete,
    completed_titles,
    open_titles,
    routed,
    start,
    view,
)

P = DESIGN_TRANSITION
PLAN, DESIGN, BUILD = "Plan new or changed service", "Design service", "Build and test"
REVIEW = "Review against expected outcome"
RELEASE_IN_LIBRARY = (LIBRARY / "release" / "manifest.json").is_file()


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """This model, and release management when the library has it."""
    keys = ["design_transition", *(["release"] if RELEASE_IN_LIBRARY else [])]
    return deploy_models(make_orchestrator(deploy=False), *keys)


def plan_and_design(orchestrator: Orchestrator) -> tuple[int, str]:
    iid, key = start(orchestrator, P)
    current = view(orchestrator, iid)
    assert [(t.title, t.lane) for t in current.open_tasks] == [(PLAN, "Service Owner")]
    assert current.record["status"] == "Planning"
    complete(orchestrator, P, iid, PLAN)
    assert find_task(orchestrator, SERVICE_DESIGN, DESIGN, iid).lane == "Service Design"
    complete(orchestrator, P, iid, DESIGN)
    return iid, key


@dataclass
class Expected:
    instance_id: int
    business_key: str
    tasks: list[str]


def path_criteria_met_first_time(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = plan_and_design(orchestrator)
    complete(orchestrator, P, iid, BUILD)
    assert view(orchestrator, iid).record["status"] == "In transition"
    complete(orchestrator, P, iid, REVIEW)
    return Expected(iid, key, [PLAN, DESIGN, BUILD, REVIEW])


def path_rework_after_failed_test(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = plan_and_design(orchestrator)
    complete(orchestrator, P, iid, BUILD, version="1.0.0-rc1", acceptance_criteria_met=False,
             test_results="MFA is not enforced for accounts without a phone number.")
    assert open_titles(orchestrator, iid) == [DESIGN]  # back to design, nothing released
    assert routed(orchestrator, iid) == []
    complete(orchestrator, P, iid, DESIGN, design_summary="Reset through the identity "
                                                          "provider; accounts without a phone "
                                                          "get a hardware token.")
    complete(orchestrator, P, iid, BUILD)
    complete(orchestrator, P, iid, REVIEW, outcome_achieved="partly_achieved",
             review_notes="Calls dropped by 40 %, short of the 60 % expected.")
    return Expected(iid, key, [PLAN, DESIGN, BUILD, DESIGN, BUILD, REVIEW])


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "criteria_met_first_time": path_criteria_met_first_time,
    "rework_after_failed_test": path_rework_after_failed_test,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_design_transition_path_ends_after_release_request(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": DESIGN_REQUEST["summary"], "priority": None,
                              "service": "Self-service password reset", "assignee_group": None,
                              "status": "Closed"}
    assert current.data["design_request"] == DESIGN_REQUEST
    assert (current.data["source_key"], current.data["ci"]) == ("CHG-000042", "APP-0042")
    assert completed_titles(orchestrator, iid) == expected.tasks

    # the transition goes through release management: exactly one release_request
    [(kind, event)] = routed(orchestrator, iid)
    assert event == "release_request"
    assert kind in ("event_routed", "event_not_routed")
    assert kind == ("event_routed" if RELEASE_IN_LIBRARY else "event_not_routed")
    releases = [r for r in current.related if r["via"] == "release_request"]
    if kind == "event_not_routed":
        assert releases == []
        return
    [link] = releases
    assert link["direction"] == "outgoing"
    release = orchestrator.instance(link["instance_id"], AUDITOR)
    assert release.process_key == "release"
    assert release.data["requested"] == {"source_key": key, "summary": DESIGN_REQUEST["summary"],
                                         "ci": "APP-0042", "version": "1.0.0"}
    assert {"instance_id": iid, "via": "release_request",
            "direction": "incoming"} in release.related


def test_each_message_starts_its_own_design_and_transition(orchestrator: Orchestrator) -> None:
    first, first_key = start(orchestrator, P)
    second, second_key = start(orchestrator, P, source_key="CHG-000043", summary="New VPN")

    assert (first_key, second_key) == ("SDT-000001", "SDT-000002")
    assert view(orchestrator, second).data["source_key"] == "CHG-000043"
    assert view(orchestrator, second).record["title"] == "New VPN"
    kinds = [e.kind for e in orchestrator.events(first, SYSTEM)]
    assert kinds == ["instance_started", "message_received"]


def test_release_request_nobody_takes_is_recorded_as_not_routed(
    make_orchestrator: Callable[..., Orchestrator],
) -> None:
    alone = deploy_models(make_orchestrator(deploy=False), "design_transition")
    iid, _ = plan_and_design(alone)
    complete(alone, P, iid, BUILD)
    assert routed(alone, iid) == [("event_not_routed", "release_request")]
    assert view(alone, iid).related == []
    complete(alone, P, iid, REVIEW)
    assert view(alone, iid).status == "completed"
