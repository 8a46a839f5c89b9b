"""Events an instance throws and does not catch reach other instances (or start one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.access import SYSTEM, Actor
from engine.errors import InvalidInput, NoMatch
from engine.orchestrator import Orchestrator

ROUTING = Path(__file__).resolve().parents[1] / "data" / "routing"
ADMIN = Actor("ann", frozenset({"Admin"}))


@pytest.fixture
def routed(orchestrator: Orchestrator) -> Orchestrator:
    results = orchestrator.deploy_paths([ROUTING], SYSTEM)
    assert [r.problems for r in results] == [[], [], []]
    return orchestrator


def test_thrown_message_starts_a_process_and_reaches_exactly_the_correlated_waiter(
    routed: Orchestrator,
) -> None:
    waiting_r1 = routed.start_instance("waiter", {"ref": "R1"}, ADMIN)
    waiting_r2 = routed.start_instance("waiter", {"ref": "R2"}, ADMIN)

    raiser = routed.start_instance("raiser", {"ref": "R2", "summary": "Outages"}, ADMIN)

    assert raiser.status == "completed"
    assert routed.instance(waiting_r1.instance_id, ADMIN).status == "running"
    pinged = routed.instance(waiting_r2.instance_id, ADMIN)
    assert pinged.status == "completed"
    assert pinged.data["ping"]["note"] == f"from {raiser.business_key}"
    links = routed.instance(raiser.instance_id, ADMIN).related
    started = next(link for link in links if link["via"] == "raise_problem")
    assert {"instance_id": waiting_r2.instance_id, "via": "record_ping",
            "direction": "outgoing"} in links
    intake = routed.instance(started["instance_id"], ADMIN)
    assert intake.process_key == "intake"
    assert intake.data["source"] == raiser.business_key
    assert {"instance_id": raiser.instance_id, "via": "raise_problem",
            "direction": "incoming"} in intake.related


def test_thrown_message_nobody_takes_is_written_to_the_audit_trail(
    routed: Orchestrator,
) -> None:
    raiser = routed.start_instance("raiser", {"ref": "nobody", "summary": "x"}, ADMIN)

    events = [(e.kind, e.details.get("event")) for e in routed.events(raiser.instance_id, SYSTEM)]
    assert ("event_not_routed", "record_ping") in events
    assert ("event_routed", "raise_problem") in events


def test_outside_message_goes_only_to_matching_correlation(routed: Orchestrator) -> None:
    first = routed.start_instance("waiter", {"ref": "A"}, ADMIN)
    second = routed.start_instance("waiter", {"ref": "B"}, ADMIN)

    result = routed.deliver_message("record_ping", {"ref": "B"}, {"note": "hi"}, ADMIN)

    assert result.received_by == [second.instance_id]
    assert routed.instance(first.instance_id, ADMIN).status == "running"
    with pytest.raises(NoMatch):
        routed.deliver_message("record_ping", {"ref": "B"}, {"note": "again"}, ADMIN)
    with pytest.raises(NoMatch):  # a correlation missing a property never matches
        routed.deliver_message("record_ping", {}, {}, ADMIN)


def test_outside_message_with_structured_correlation_is_rejected(routed: Orchestrator) -> None:
    with pytest.raises(InvalidInput):
        routed.deliver_message("record_ping", {"ref": {"x": 1}}, {}, ADMIN)


def test_a_process_that_starts_on_a_message_cannot_be_started_directly(
    routed: Orchestrator,
) -> None:
    with pytest.raises(InvalidInput, match="raise_problem"):
        routed.start_instance("intake", {}, ADMIN)
    started = routed.deliver_message("raise_problem", {}, {"source": "X-1"}, ADMIN)
    assert started.started is not None


def test_audit_trail_is_shown_only_to_who_may_see_the_instance(routed: Orchestrator) -> None:
    from engine.errors import NotAllowed

    started = routed.start_instance("waiter", {"ref": "Z"}, ADMIN)
    stranger = Actor("sven", frozenset({"Service Desk"}))
    with pytest.raises(NotAllowed):
        routed.events(started.instance_id, stranger)
    reader = Actor("rhea", frozenset({"Reader"}))
    trail = routed.events(started.instance_id, reader)
    assert trail[0].kind == "instance_started"
