"""Firing due timers: the work of ``itsm worker`` (and of a thread in ``itsm serve``).

Each due instance is handled in its own transaction. On PostgreSQL the instance row is taken
with ``FOR UPDATE SKIP LOCKED``, so several workers share the load and never handle the same
instance at once; a worker killed mid-batch loses nothing, because an instance's timer rows
are only replaced when its new state commits, and the next worker sees them still due.

Periodic processes (``engine.schedules``) are fired here too: a due ``process_schedule`` row
starts one new instance of the model's latest version (occurrences missed while no worker ran
are counted in its data, not started), in the transaction that moves the row on; the row is
taken the same way as an instance row, so each occurrence starts exactly once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.access import SYSTEM
from engine.errors import Conflict, EngineError
from engine.runtime import Runtime, latest_version
from engine.schedules import catch_up
from engine.stepping import audit, step
from storage.models import ProcessInstance, ProcessModel, ProcessSchedule, Timer

__all__ = ["FiredTimers", "TimerWorker", "fire_due_schedules", "fire_due_timers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FiredTimers:
    instances: int
    timers: int
    # how late each timer fired, in seconds (for the lateness measurement)
    lateness: list[float]
    # instances started by due schedules of periodic processes
    scheduled: int = 0


def due_instance_ids(session: Session, now: datetime, limit: int) -> list[int]:
    rows = session.execute(
        select(Timer.instance_id, func.min(Timer.due_at).label("due"))
        # Strictly before now: SpiffWorkflow fires a timer only once its due time has passed
        # (``due < now``); at exactly the due time it would not fire but be recorded as fired.
        .where(Timer.due_at < now)
        .group_by(Timer.instance_id)
        .order_by("due")
        .limit(limit)
    ).all()
    return [row[0] for row in rows]


def fire_due_timers(runtime: Runtime, limit: int = 200) -> FiredTimers:
    """Fire every timer due now (up to ``limit`` instances); returns what was done."""
    now = clock.now()
    with runtime.db.read() as session:
        instance_ids = due_instance_ids(session, now, limit)
    fired = 0
    lateness: list[float] = []
    handled = 0
    for instance_id in instance_ids:
        try:
            late = _fire_instance(runtime, instance_id)
        except Conflict:
            continue  # someone else moved it on; its timers are looked at again next round
        if late:
            handled += 1
            fired += len(late)
            lateness.extend(late)
    return FiredTimers(handled, fired, lateness, fire_due_schedules(runtime, limit))


def _fire_instance(runtime: Runtime, instance_id: int) -> list[float]:
    with runtime.db.write() as session:
        if not _lock_row(session, runtime, instance_id):
            return []
        now = clock.now()
        due = list(session.scalars(
            select(Timer).where(Timer.instance_id == instance_id, Timer.due_at < now)
        ))
        if not due:
            return []
        loaded = runtime.store.load(session, instance_id)
        if loaded.row.status != "running":
            return []
        # Audit first: what the timer leads to (e.g. instance_completed) comes after it.
        for timer in due:
            audit(session, instance_id, SYSTEM.name, "timer_fired", timer.name,
                  due_at=timer.due_at.isoformat(), fired_at=now.isoformat())
        step(session, loaded, SYSTEM.name, lambda: spiff.refresh_timers(loaded.workflow))
        runtime.finish(session, loaded, SYSTEM)
        return [(now - t.due_at).total_seconds() for t in due]


def _lock_row(session: Session, runtime: Runtime, instance_id: int) -> bool:
    """Take the instance for this worker; False when another worker holds it (PostgreSQL)."""
    if runtime.db.is_sqlite:
        return True  # BEGIN IMMEDIATE already serialises writers
    got = session.scalar(
        select(ProcessInstance.id).where(ProcessInstance.id == instance_id)
        .with_for_update(skip_locked=True)
    )
    return got is not None


def next_due(runtime: Runtime) -> datetime | None:
    """The earliest due time of a timer or a schedule (None: nothing is waiting)."""
    with runtime.db.read() as session:
        due = [
            session.scalar(select(func.min(Timer.due_at))),
            session.scalar(select(func.min(ProcessSchedule.next_due_at))),
        ]
    return min((d for d in due if d is not None), default=None)


# --------------------------------------------------------------------------- schedules


def fire_due_schedules(runtime: Runtime, limit: int = 200) -> int:
    """Start one instance for each schedule due now; returns how many were started."""
    now = clock.now()
    with runtime.db.read() as session:
        schedule_ids = list(session.scalars(
            select(ProcessSchedule.id).where(ProcessSchedule.next_due_at < now)
            .order_by(ProcessSchedule.next_due_at).limit(limit)
        ))
    started = 0
    for schedule_id in schedule_ids:
        try:
            started += _start_scheduled(runtime, schedule_id)
        except EngineError as exc:  # e.g. no active version: skip it, do not spin on it
            log.warning("schedule %s could not start an instance: %s", schedule_id, exc)
            _skip_failed(runtime, schedule_id, exc)
    return started


def _start_scheduled(runtime: Runtime, schedule_id: int) -> int:
    with runtime.db.write() as session:
        now = clock.now()
        schedule = _lock_schedule(session, runtime, schedule_id, now)
        if schedule is None:
            return 0  # another worker has it, or it moved on already
        due = catch_up(schedule.expression_kind, schedule.expression, schedule.anchor_at,
                       schedule.next_due_at or now, now)
        key = session.scalar(select(ProcessModel.key).where(ProcessModel.id == schedule.model_id))
        version = latest_version(session, key or "")
        data = {"scheduled_for": due.scheduled_for.isoformat(), "missed_occurrences": due.missed}
        loaded = runtime.start_in_session(session, version, data, SYSTEM, None)
        schedule.next_due_at = due.next_due
        schedule.occurrences_started += 1
        schedule.last_instance_id = loaded.row.id
        audit(session, loaded.row.id, SYSTEM.name, "schedule_fired", schedule.element_id,
              process=key, scheduled_for=due.scheduled_for.isoformat(),
              missed_occurrences=due.missed, fired_at=now.isoformat(),
              next_due_at=due.next_due.isoformat() if due.next_due else None)
        return 1


def _skip_failed(runtime: Runtime, schedule_id: int, error: EngineError) -> None:
    with runtime.db.write() as session:
        now = clock.now()
        schedule = _lock_schedule(session, runtime, schedule_id, now)
        if schedule is None:
            return
        due = catch_up(schedule.expression_kind, schedule.expression, schedule.anchor_at,
                       schedule.next_due_at or now, now)
        schedule.next_due_at = due.next_due
        audit(session, None, SYSTEM.name, "schedule_failed", schedule.element_id,
              model_id=schedule.model_id, scheduled_for=due.scheduled_for.isoformat(),
              missed_occurrences=due.missed, error=str(error))


def _lock_schedule(
    session: Session, runtime: Runtime, schedule_id: int, now: datetime
) -> ProcessSchedule | None:
    """The schedule if it is still due and no other worker holds it (PostgreSQL)."""
    query = select(ProcessSchedule).where(
        ProcessSchedule.id == schedule_id, ProcessSchedule.next_due_at < now
    )
    if not runtime.db.is_sqlite:  # on SQLite BEGIN IMMEDIATE already serialises writers
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


class TimerWorker:
    """A loop that fires timers until stopped; sleeps until the next due time or a poll."""

    def __init__(self, runtime: Runtime, poll_seconds: float = 1.0) -> None:
        self.runtime = runtime
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                result = fire_due_timers(self.runtime)
            except Exception:  # keep the worker alive; the failure is in the log
                log.exception("timer round failed")
                self.stop_event.wait(self.poll_seconds)  # do not spin on a lasting failure
                continue
            if result.instances == 0 and result.scheduled == 0:
                self.stop_event.wait(self._sleep_seconds())

    def _sleep_seconds(self) -> float:
        due = next_due(self.runtime)
        if due is None:
            return self.poll_seconds
        wait = (due - clock.now()).total_seconds()
        return max(0.0, min(self.poll_seconds, wait))

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="itsm-timer-worker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
