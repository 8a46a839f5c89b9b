"""Periodic processes: a timer start event is the engine's schedule; each occurrence starts one
new instance (never a loop inside one), missed occurrences collapse into one, and several
workers start each occurrence exactly once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import spiff, timers
from engine.access import SYSTEM
from engine.clock import ManualClock, use_clock
from engine.deploy import register_roles
from engine.orchestrator import Orchestrator
from engine.timers import FiredTimers
from storage.models import (
    AuditEvent,
    ProcessInstance,
    ProcessSchedule,
    ProcessVersion,
    VersionFile,
)
from tests.integration.conftest import OWNER, timers_of

PERIODIC = Path(__file__).resolve().parents[1] / "data" / "periodic"
KEY = "periodic_review"
BPMN_NAME = "periodic_review.bpmn"
CYCLE = "R/2026-01-31T08:00:00+00:00/P1M"
TASK = "Review the period"
DEPLOYED_AT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(DEPLOYED_AT)
    previous = use_clock(manual)
    try:
        yield manual
    finally:
        use_clock(previous)


def _periodic(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """An orchestrator with only the roles and the periodic test process deployed."""
    orchestrator = make_orchestrator(deploy=False)
    with orchestrator.db.write() as session:
        register_roles(session, {"Process Owner": "owns process models"})
    [result] = orchestrator.deploy_paths([PERIODIC], OWNER)
    assert result.problems == [] and result.outcome is not None, result
    return orchestrator


@pytest.fixture
def periodic(make_orchestrator: Callable[..., Orchestrator], clock: ManualClock) -> Orchestrator:
    return _periodic(make_orchestrator)


def _at(month: int, day: int, year: int = 2030) -> datetime:
    return datetime(year, month, day, 8, 0, tzinfo=UTC)


def _move_to(clock: ManualClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


def _instances(orchestrator: Orchestrator) -> list[ProcessInstance]:
    with orchestrator.db.read() as session:
        return list(session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)))


def _schedule(orchestrator: Orchestrator) -> ProcessSchedule | None:
    with orchestrator.db.read() as session:
        return session.scalar(select(ProcessSchedule))


def _start_data(orchestrator: Orchestrator, instance_id: int) -> dict[str, object]:
    trail = orchestrator.events(instance_id, SYSTEM)
    [started] = [e for e in trail if e.kind == "instance_started"]
    return dict(started.details["data"])


def _redeploy(orchestrator: Orchestrator, tmp_path: Path, bpmn: bytes) -> None:
    folder = tmp_path / "redeploy" / KEY
    shutil.rmtree(folder.parent, ignore_errors=True)
    shutil.copytree(PERIODIC / KEY, folder)
    (folder / BPMN_NAME).write_bytes(bpmn)
    [result] = orchestrator.deploy_paths([folder], OWNER)
    assert result.problems == [] and result.outcome is not None and result.outcome.created


def test_deploy_creates_the_schedule(periodic: Orchestrator) -> None:
    [schedule] = periodic.schedules()
    assert (schedule.key, schedule.version, schedule.element_id) == (KEY, 1, "Event_every_month")
    assert (schedule.expression_kind, schedule.expression) == ("timeCycle", CYCLE)
    assert schedule.anchor_at == DEPLOYED_AT
    assert schedule.next_due_at == _at(1, 31)  # the first occurrence after the deploy
    assert (schedule.occurrences_started, schedule.last_instance_id) == (0, None)
    assert periodic.process(KEY).schedule == schedule
    assert timers.next_due(periodic.runtime) == _at(1, 31)
    # the stored file is the file as deployed, timer included
    with periodic.db.read() as session:
        stored = session.scalar(select(VersionFile.content).where(VersionFile.name == BPMN_NAME))
    assert stored == (PERIODIC / KEY / BPMN_NAME).read_bytes()


def test_a_due_occurrence_starts_exactly_one_instance_with_one_task(
    periodic: Orchestrator, clock: ManualClock
) -> None:
    assert periodic.fire_due_timers() == FiredTimers(0, 0, [], 0)
    _move_to(clock, _at(1, 31))  # exactly the due time: due strictly after, like timers
    assert periodic.fire_due_timers().scheduled == 0

    clock.advance(timedelta(milliseconds=1))
    assert periodic.fire_due_timers() == FiredTimers(0, 0, [], 1)
    [instance] = _instances(periodic)
    assert (instance.started_by, instance.status) == ("system", "running")
    assert instance.business_key == "REV-000001"
    assert _start_data(periodic, instance.id) == {
        "scheduled_for": "2030-01-31T08:00:00+00:00", "missed_occurrences": 0}
    view = periodic.instance(instance.id, OWNER)
    assert [t.title for t in view.open_tasks] == [TASK]
    assert [e.kind for e in periodic.events(instance.id, SYSTEM)] == ["instance_started",
                                                              "schedule_fired"]
    fired = periodic.events(instance.id, SYSTEM)[-1]
    assert fired.actor == "system" and fired.details["next_due_at"] == _at(2, 28).isoformat()
    assert timers_of(periodic, instance.id) == []  # no cycle waits inside the instance

    [schedule] = periodic.schedules()
    assert schedule.next_due_at == _at(2, 28)
    assert (schedule.occurrences_started, schedule.last_instance_id) == (1, instance.id)

    # a second round does nothing; neither does firing again much later than the same due
    assert periodic.fire_due_timers() == FiredTimers(0, 0, [], 0)
    assert len(_instances(periodic)) == 1

    # the next period starts the next instance; the first one still has its single task
    _move_to(clock, _at(2, 28) + timedelta(seconds=1))
    assert periodic.fire_due_timers().scheduled == 1
    first, second = _instances(periodic)
    assert len(periodic.instance(first.id, OWNER).open_tasks) == 1
    assert len(periodic.instance(second.id, OWNER).open_tasks) == 1
    assert _start_data(periodic, second.id)["scheduled_for"] == "2030-02-28T08:00:00+00:00"


def test_three_missed_periods_start_one_instance(
    periodic: Orchestrator, clock: ManualClock
) -> None:
    _move_to(clock, _at(4, 15))  # Jan 31, Feb 28 and Mar 31 passed while no worker ran
    assert periodic.fire_due_timers().scheduled == 1
    [instance] = _instances(periodic)
    assert _start_data(periodic, instance.id) == {
        "scheduled_for": "2030-03-31T08:00:00+00:00", "missed_occurrences": 2}
    [schedule] = periodic.schedules()
    assert (schedule.next_due_at, schedule.occurrences_started) == (_at(4, 30), 1)
    assert periodic.fire_due_timers().scheduled == 0
    assert len(_instances(periodic)) == 1
    assert len(periodic.instance(instance.id, OWNER).open_tasks) == 1


def test_the_instance_never_loops(periodic: Orchestrator, clock: ManualClock) -> None:
    clock.advance(timedelta(days=30))
    assert periodic.fire_due_timers().scheduled == 1
    [instance] = _instances(periodic)
    size = len(instance.state)
    # a year of rounds: other instances start, this one does not grow or branch
    for _ in range(12):
        clock.advance(timedelta(days=31))
        periodic.fire_due_timers()
    with periodic.db.read() as session:
        row = session.get(ProcessInstance, instance.id)
        assert row is not None and len(row.state) == size < 4000
        loaded = periodic.store.load(session, instance.id)
        assert [t.title for t in spiff.ready_user_tasks(loaded.workflow)] == [TASK]
        assert spiff.waiting_timers(loaded.workflow) == []
    assert len(_instances(periodic)) == 13


def test_a_periodic_process_can_be_started_by_hand(
    periodic: Orchestrator, clock: ManualClock
) -> None:
    started = periodic.start_instance(KEY, {"note": "ad-hoc review"}, OWNER)
    assert started.status == "running" and len(started.ready_task_ids) == 1
    assert timers_of(periodic, started.instance_id) == []
    [schedule] = periodic.schedules()
    assert (schedule.next_due_at, schedule.occurrences_started) == (_at(1, 31), 0)
    task = periodic.task(started.ready_task_ids[0], OWNER)
    outcome = periodic.complete_task(task.id, {}, OWNER)
    assert outcome.status == "completed"


def test_redeploying_updates_or_removes_the_schedule(
    periodic: Orchestrator, clock: ManualClock, tmp_path: Path
) -> None:
    original = (PERIODIC / KEY / BPMN_NAME).read_bytes()
    _move_to(clock, _at(2, 1))
    assert periodic.fire_due_timers().scheduled == 1

    # the same cycle in a changed diagram: the schedule goes on as it was
    _redeploy(periodic, tmp_path, original.replace(b"Review the period", b"Review the month"))
    [schedule] = periodic.schedules()
    assert (schedule.version, schedule.next_due_at, schedule.occurrences_started) == (
        2, _at(2, 28), 1)

    # a changed cycle: a fresh schedule from now
    weekly = b'"R/P1W"'
    _redeploy(periodic, tmp_path, original.replace(f'"{CYCLE}"'.encode(), weekly))
    [schedule] = periodic.schedules()
    assert (schedule.version, schedule.expression) == (3, "R/P1W")
    assert (schedule.anchor_at, schedule.next_due_at) == (clock.now(), clock.now() + timedelta(7))
    assert schedule.occurrences_started == 0
    clock.advance(timedelta(days=7, seconds=1))
    assert periodic.fire_due_timers().scheduled == 1
    newest = _instances(periodic)[-1]
    assert newest.version_id == schedule_version_id(periodic)

    # no timer start any more: no schedule
    start = original.index(b"<bpmn:timerEventDefinition")
    end = original.index(b"</bpmn:timerEventDefinition>") + len(b"</bpmn:timerEventDefinition>")
    _redeploy(periodic, tmp_path, original[:start] + original[end:])
    assert periodic.schedules() == []
    assert periodic.process(KEY).schedule is None
    clock.advance(timedelta(days=60))
    assert periodic.fire_due_timers().scheduled == 0


def schedule_version_id(orchestrator: Orchestrator) -> int:
    schedule = _schedule(orchestrator)
    assert schedule is not None
    return schedule.version_id


def test_a_timer_start_that_cannot_be_scheduled_is_rejected(
    periodic: Orchestrator, tmp_path: Path
) -> None:
    original = (PERIODIC / KEY / BPMN_NAME).read_bytes()
    folder = tmp_path / "bad" / KEY
    shutil.copytree(PERIODIC / KEY, folder)
    (folder / BPMN_NAME).write_bytes(original.replace(f'"{CYCLE}"'.encode(), b'"R/PT5S"'))
    [result] = periodic.deploy_paths([folder], OWNER)
    assert result.outcome is None
    [problem] = result.problems
    assert (problem.file, problem.element_id) == (BPMN_NAME, "Event_every_month")
    assert "at least" in problem.message
    [schedule] = periodic.schedules()  # the deployed version's schedule is untouched
    assert (schedule.version, schedule.expression) == (1, CYCLE)


def test_a_schedule_whose_start_fails_moves_on(
    periodic: Orchestrator, clock: ManualClock
) -> None:
    with periodic.db.write() as session:  # no active version left to start
        for version in session.scalars(select(ProcessVersion)):
            version.status = "retired"
    _move_to(clock, _at(3, 1))
    assert periodic.fire_due_timers().scheduled == 0
    [schedule] = periodic.schedules()
    assert schedule.next_due_at == _at(3, 31)  # skipped, not retried in a tight loop
    with periodic.db.read() as session:
        kinds = list(session.scalars(select(AuditEvent.kind).where(
            AuditEvent.kind.like("schedule_%"))))
    assert kinds == ["schedule_failed"]
    assert _instances(periodic) == []


def _fire_at_once(*workers: Orchestrator) -> list[FiredTimers | BaseException]:
    """Each orchestrator fires due timers in its own thread, all starting together."""
    barrier = threading.Barrier(len(workers))
    results: list[FiredTimers | BaseException] = [RuntimeError("no result")] * len(workers)

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = workers[index].fire_due_timers()
        except BaseException as exc:  # reported by the caller's assertions
            results[index] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_workers_start_each_occurrence_exactly_once(
    make_orchestrator: Callable[..., Orchestrator], clock: ManualClock, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several workers share the load on PostgreSQL (FOR UPDATE SKIP LOCKED)")
    first = _periodic(make_orchestrator)
    second = make_orchestrator(deploy=False)  # its own Database on the same URL
    assert first.db is not second.db and first.db.url == second.db.url
    rounds = 8
    for month in range(rounds):
        clock.advance(timedelta(days=31) if month else timedelta(days=25))
        results = _fire_at_once(first, second)
        assert all(isinstance(r, FiredTimers) for r in results), results
        assert sum(r.scheduled for r in results if isinstance(r, FiredTimers)) == 1

    instances = _instances(first)
    assert len(instances) == rounds
    scheduled_for = [_start_data(first, i.id)["scheduled_for"] for i in instances]
    assert len(set(scheduled_for)) == rounds
    with first.db.read() as session:
        fired = session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.kind == "schedule_fired"))
    assert fired == rounds
    [schedule] = first.schedules()
    assert schedule.occurrences_started == rounds


def test_every_periodic_process_of_the_library_starts_one_pass(
    clock: ManualClock, make_orchestrator: Callable[..., Orchestrator]
) -> None:
    library = make_orchestrator()  # the whole bpmn/ library, deployed at DEPLOYED_AT
    schedules = library.schedules()
    due = [s.next_due_at for s in schedules if s.next_due_at is not None]
    if not due:
        pytest.skip("the library has no periodic process")
    _move_to(clock, max(due) + timedelta(seconds=1))
    assert library.fire_due_timers().scheduled == len(due)
    started = {s.key: s.last_instance_id for s in library.schedules()}
    assert len(_instances(library)) == len(due)
    for key, instance_id in started.items():
        assert instance_id is not None
        view = library.instance(instance_id, SYSTEM)
        assert (view.status, view.error) == ("running", None)
        # one pass, like an instance started by hand (no cycle branching inside it)
        by_hand = library.start_instance(key, {}, SYSTEM)
        assert sorted(t.title for t in view.open_tasks) == sorted(
            t.title for t in library.instance(by_hand.instance_id, SYSTEM).open_tasks)
        assert view.open_tasks
    assert library.fire_due_timers().scheduled == 0
