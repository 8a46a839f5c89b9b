"""The engine's notion of "now".

SpiffWorkflow reads the wall clock inside its timer classes; routing that through one clock
lets the timer worker, the due times we index and the engine agree on the time, and lets
tests move time forward instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "current_clock", "now", "use_clock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (for tests and simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


_current: Clock = SystemClock()


def current_clock() -> Clock:
    return _current


def use_clock(clock: Clock) -> Clock:
    """Make ``clock`` the process-wide clock; returns the previous one so it can be restored."""
    global _current
    previous, _current = _current, clock
    return previous


def now() -> datetime:
    return _current.now()
