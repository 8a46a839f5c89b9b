"""Timers: due times indexed from the instance state, fired once, by one worker at a time."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import spiff
from engine.access import SYSTEM
from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from engine.timers import FiredTimers
from storage.models import AuditEvent
from tests.integration.conftest import (
    MANAGER,
    RESOLVER,
    SERVICE_DESK,
    audit_kinds,
    complete_current,
    deploy_models,
    find_task,
    record_incident,
    timers_of,
)


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only the incident models: the library's periodic processes (timer start events)
    would start instances of their own when the clock jumps to 2030 (see test_schedules)."""
    return deploy_models(make_orchestrator(deploy=False), "incident", "major_incident")


def _assert_timer_rows_match_state(orchestrator: Orchestrator, instance_id: int) -> set[str]:
    """The instance's Timer rows are exactly the timers its workflow waits on; their names."""
    with orchestrator.db.read() as session:
        loaded = orchestrator.store.load(session, instance_id)
        waiting = spiff.waiting_timers(loaded.workflow)
    rows = timers_of(orchestrator, instance_id)
    assert sorted((r.task_guid, r.name, r.due_at) for r in rows) == sorted(
        (w.guid, w.name, w.due_at) for w in waiting
    )
    return {r.name or "" for r in rows}


def test_timer_fires_at_its_due_time_and_only_once(
    orchestrator: Orchestrator, clock: ManualClock
) -> None:
    recorded = record_incident(orchestrator, impact=2, urgency=2)  # escalation after P3D
    iid = recorded.instance_id
    [timer] = timers_of(orchestrator, iid)
    assert timer.due_at == clock.now() + timedelta(days=3)

    assert orchestrator.fire_due_timers() == FiredTimers(0, 0, [])
    clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert orchestrator.fire_due_timers() == FiredTimers(0, 0, [])
    assert audit_kinds(orchestrator, iid).count("timer_fired") == 0
    assert [t.title for t in orchestrator.inbox(MANAGER)] == []

    clock.advance(timedelta(seconds=1))  # exactly the due time: SpiffWorkflow fires after it
    assert orchestrator.fire_due_timers() == FiredTimers(0, 0, [])
    assert audit_kinds(orchestrator, iid).count("timer_fired") == 0

    clock.advance(timedelta(milliseconds=1))
    assert orchestrator.fire_due_timers() == FiredTimers(1, 1, [0.001])
    [fired] = [e for e in orchestrator.events(iid, SYSTEM) if e.kind == "timer_fired"]
    assert fired.actor == "system"
    assert fired.task_name == "Escalation target reached"
    assert fired.details["due_at"] == timer.due_at.isoformat()
    find_task(orchestrator, MANAGER, "Review escalated incident", iid)

    clock.advance(timedelta(days=30))
    assert orchestrator.fire_due_timers() == FiredTimers(0, 0, [])
    assert audit_kinds(orchestrator, iid).count("timer_fired") == 1
    assert len(orchestrator.instance(iid, MANAGER).open_tasks) == 2


def test_late_timers_report_their_lateness(orchestrator: Orchestrator, clock: ManualClock) -> None:
    first = record_incident(orchestrator, impact=2, urgency=2)  # P3D
    clock.advance(timedelta(hours=1))
    second = record_incident(orchestrator, impact=1, urgency=2)  # PT8H
    clock.advance(timedelta(days=3, hours=1))
    fired = orchestrator.fire_due_timers()
    assert (fired.instances, fired.timers) == (2, 2)
    assert sorted(fired.lateness) == [7200.0, timedelta(days=2, hours=17).total_seconds()]
    for outcome in (first, second):
        assert audit_kinds(orchestrator, outcome.instance_id).count("timer_fired") == 1


def test_timer_rows_follow_the_waiting_timers(
    orchestrator: Orchestrator, clock: ManualClock
) -> None:
    recorded = record_incident(orchestrator, impact=1, urgency=2)  # escalation after PT8H
    iid = recorded.instance_id
    assert _assert_timer_rows_match_state(orchestrator, iid) == {"Escalation target reached"}

    complete_current(orchestrator, RESOLVER, "Investigate and diagnose", instance_id=iid)
    # the boundary timer went with the investigation
    assert _assert_timer_rows_match_state(orchestrator, iid) == set()

    complete_current(orchestrator, RESOLVER, "Resolve", instance_id=iid)
    names = _assert_timer_rows_match_state(orchestrator, iid)
    assert len(names) == 1
    [row] = timers_of(orchestrator, iid)
    assert row.due_at == clock.now() + timedelta(days=5)

    clock.advance(timedelta(days=6))
    assert orchestrator.fire_due_timers().timers == 1
    assert _assert_timer_rows_match_state(orchestrator, iid) == set()
    assert orchestrator.instance(iid, SERVICE_DESK).status == "completed"


def test_no_answer_timer_is_named_after_its_catch_event(orchestrator: Orchestrator) -> None:
    recorded = record_incident(orchestrator)
    complete_current(orchestrator, RESOLVER, "Investigate and diagnose")
    complete_current(orchestrator, RESOLVER, "Resolve")
    [row] = timers_of(orchestrator, recorded.instance_id)
    assert row.name == "No answer"  # not the event-based gateway's name "Caller answers?"


def test_two_workers_fire_each_due_timer_exactly_once(
    make_orchestrator: Callable[..., Orchestrator], clock: ManualClock, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several timer workers share the load on PostgreSQL (FOR UPDATE SKIP LOCKED)")
    first = make_orchestrator()
    second = make_orchestrator()  # its own Database on the same URL, like a second process
    assert first.db is not second.db and first.db.url == second.db.url
    instances = [record_incident(first, impact=1, urgency=2).instance_id for _ in range(20)]
    clock.advance(timedelta(hours=9))

    barrier = threading.Barrier(2)
    results: dict[str, FiredTimers | BaseException] = {}

    def work(name: str, orchestrator: Orchestrator) -> None:
        barrier.wait()
        try:
            results[name] = orchestrator.fire_due_timers()
        except BaseException as exc:  # reported by the assertions below
            results[name] = exc

    threads = [threading.Thread(target=work, args=(name, o))
               for name, o in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(r, FiredTimers) for r in results.values()), results
    fired_totals = [r.timers for r in results.values() if isinstance(r, FiredTimers)]
    assert sum(fired_totals) == 20
    with first.db.read() as session:
        fired_per_instance = Counter(session.scalars(
            select(AuditEvent.instance_id).where(AuditEvent.kind == "timer_fired")
        ))
    assert fired_per_instance == Counter({iid: 1 for iid in instances})
    for iid in instances:
        assert timers_of(first, iid) == []
        find_task(first, MANAGER, "Review escalated incident", iid)
