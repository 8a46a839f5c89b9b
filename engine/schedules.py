"""Periodic processes: the engine owns the schedule of a timer start event; every occurrence
is a new instance.

SpiffWorkflow runs a cycle timer start event inside one instance: it catches up every past
cycle and adds a branch per cycle, for ever (measured), while our rule is that repeating work
becomes a new instance. So:

* at deploy, :func:`timer_start` finds the top-level timer start event of the version's
  executable process and evaluates its expression once (in the sandbox, without data);
  :func:`sync_schedule` keeps one ``process_schedule`` row per model with the next due time;
* the parser is given :func:`executable_bpmn`, the BPMN without that timer, so an instance
  runs the process exactly once (the stored files stay byte for byte; a hand start works);
* the timer worker (``engine.timers``) starts one instance per due occurrence. Occurrences
  missed while no worker ran are counted (:func:`catch_up`), never started late one by one.

Arithmetic: years and months move the calendar, clamping the day (Jan 31 + P1M = Feb 28 or
29); weeks, days, hours, minutes and seconds are exact durations. Everything is UTC, so
daylight saving time does not apply. Occurrence k of a series is start + k x period,
computed from the start, so clamping never drifts (Jan 31, Feb 28, Mar 31, Apr 30, ...).
Supported: ``R[n]/start/period``, ``R[n]/period`` (first one period after the deploy),
``R[n]/period/end``; a ``timeDate`` is one occurrence; a ``timeDuration`` one occurrence that
long after the deploy. A value without offset is UTC.
"""

from __future__ import annotations

import math
import re
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.errors import DeployRejected, Problem, ScriptFailed
from engine.script_sandbox import RestrictedEnvironment
from engine.xml_problems import NS, Element
from storage.models import ProcessSchedule, ProcessVersion

__all__ = [
    "MIN_PERIOD",
    "CatchUp",
    "InvalidSchedule",
    "TimerStart",
    "catch_up",
    "executable_bpmn",
    "next_occurrence",
    "sync_schedule",
    "timer_start",
]

KINDS = ("timeCycle", "timeDate", "timeDuration")
# A process started more often than this is a mistake (or an attack on the worker).
MIN_PERIOD = timedelta(minutes=1)

_ONE_MICROSECOND = timedelta(microseconds=1)
_NUM = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>{_NUM})W)?"
    rf"(?:(?P<days>{_NUM})D)?(?:T(?=\d)(?:(?P<hours>{_NUM})H)?(?:(?P<minutes>{_NUM})M)?"
    rf"(?:(?P<seconds>{_NUM})S)?)?",
    re.IGNORECASE,
)
_REPEAT = re.compile(r"R(\d*)", re.IGNORECASE)
_AVERAGE_MONTH_SECONDS = 30.436875 * 86400


class InvalidSchedule(ValueError):
    """A timer start event the engine cannot schedule (reported as a deploy problem)."""

    def __init__(self, message: str, element_id: str | None = None,
                 file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.element_id, self.file, self.line = element_id, file, line


@dataclass(frozen=True)
class TimerStart:
    """The top-level timer start event of a process and its value, evaluated once."""

    element_id: str
    kind: str  # timeCycle, timeDate or timeDuration
    expression: str  # the evaluated ISO 8601 value
    file: str
    line: int | None


@dataclass(frozen=True)
class CatchUp:
    """What is due at a moment: the occurrence to start, how many before it were missed,
    and the next one (None when the series is over)."""

    scheduled_for: datetime
    missed: int
    next_due: datetime | None


# --------------------------------------------------------------------------- the BPMN side


def _timer_starts(root: Any, process_id: str) -> list[Any]:
    """Top-level start events of ``process_id`` that have a timer definition."""
    return [
        event
        for process in root.iterfind("bpmn:process", NS)
        if process.get("id") == process_id
        for event in process.iterfind("bpmn:startEvent", NS)
        if event.find("bpmn:timerEventDefinition", NS) is not None
    ]


def timer_start(
    bpmn_files: Mapping[str, bytes], process_id: str, *,
    roots: Mapping[str, Element] | None = None,
) -> TimerStart | None:
    """The timer start event of ``process_id`` (None: it has none); ``InvalidSchedule`` when
    its value cannot be evaluated without data or is not a schedule the engine can keep.

    ``roots`` holds files already parsed (name -> root element, e.g. by the deploy checks);
    the others are parsed here.
    """
    found: list[tuple[str, Any]] = []
    for name in sorted(bpmn_files):
        content = bpmn_files[name]
        if b"timerEventDefinition" not in content:
            continue
        root = (roots or {}).get(name)
        if root is None:
            try:
                root = etree.fromstring(content, spiff.safe_xml_parser())
            except etree.XMLSyntaxError:
                continue  # the deploy checks say why
        found += [(name, event) for event in _timer_starts(root, process_id)]
    if not found:
        return None
    name, event = found[0]
    where = {"element_id": event.get("id"), "file": name, "line": event.sourceline}
    if len(found) > 1:
        raise InvalidSchedule("a process may have one timer start event; this is the first "
                              f"of {len(found)}", **where)
    definition = event.find("bpmn:timerEventDefinition", NS)
    values = [e for e in definition if etree.QName(e).localname in KINDS]
    if len(values) != 1:
        raise InvalidSchedule("the timer start event needs one timeCycle, timeDate or "
                              "timeDuration", **where)
    kind = etree.QName(values[0]).localname
    value = _evaluate((values[0].text or "").strip(), kind, where)
    try:
        _series(kind, value, clock.now())
    except ValueError as exc:
        raise InvalidSchedule(f"the timer start event's {kind} {value!r}: {exc}", **where) from exc
    return TimerStart(str(event.get("id")), kind, value, name, event.sourceline)


def _evaluate(source: str, kind: str, where: dict[str, Any]) -> str:
    try:
        value = RestrictedEnvironment(clock=clock.now).evaluate(source, {})
    except ScriptFailed as exc:
        raise InvalidSchedule(f"the timer start event's {kind} must be evaluable without "
                              f"instance data ({exc})", **where) from exc
    if not isinstance(value, str):
        raise InvalidSchedule(f"the timer start event's {kind} must give an ISO 8601 string, "
                              f"not {value!r}", **where)
    return value.strip()


def executable_bpmn(bpmn: bytes, process_id: str) -> bytes:
    """The BPMN with the timer taken off ``process_id``'s top-level timer start events.

    What SpiffWorkflow parses, so that one instance is one pass through the process (the
    engine starts an instance per occurrence). Unchanged bytes when there is no such timer.
    """
    if b"timerEventDefinition" not in bpmn:
        return bpmn
    root = etree.fromstring(bpmn, spiff.safe_xml_parser())
    events = _timer_starts(root, process_id)
    if not events:
        return bpmn
    for event in events:
        for definition in event.findall("bpmn:timerEventDefinition", NS):
            _remove(definition)
    tree = root.getroottree()
    return etree.tostring(tree, xml_declaration=True,  # type: ignore[no-any-return]
                          encoding=tree.docinfo.encoding or "UTF-8")


def _remove(element: Any) -> None:
    """Remove the element; the whitespace after it stays (lxml would drop it too)."""
    previous, parent = element.getprevious(), element.getparent()
    if previous is not None:
        previous.tail = (previous.tail or "") + (element.tail or "")
    else:
        parent.text = (parent.text or "") + (element.tail or "")
    parent.remove(element)


# --------------------------------------------------------------------------- arithmetic


@dataclass(frozen=True)
class _Series:
    """Occurrence i (0 <= i < count) is base + (first + i) x (months, delta)."""

    base: datetime
    months: int
    delta: timedelta
    first: int
    count: int | None  # None: no end

    def at(self, index: int) -> datetime | None:
        if index < 0 or (self.count is not None and index >= self.count):
            return None
        k = self.first + index
        try:
            return _add(self.base, self.months * k, self.delta * k)
        except (ValueError, OverflowError):  # beyond the year 9999
            return None

    def index_after(self, moment: datetime) -> int | None:
        """Index of the first occurrence strictly after ``moment``; None when none is."""
        step = self.months * _AVERAGE_MONTH_SECONDS + self.delta.total_seconds()
        guess = 0
        if step > 0:
            elapsed = (moment - self.base).total_seconds()
            guess = max(0, math.floor(elapsed / step) - self.first)
            if self.count is not None:
                guess = min(guess, self.count)
        while guess > 0 and (earlier := self.at(guess - 1)) is not None and earlier > moment:
            guess -= 1
        while (occurrence := self.at(guess)) is not None and occurrence <= moment:
            guess += 1
        return None if occurrence is None else guess


def _add(moment: datetime, months: int, delta: timedelta) -> datetime:
    if months:
        total = moment.month - 1 + months
        year, month = moment.year + total // 12, total % 12 + 1
        day = min(moment.day, monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    return moment + delta


def _duration(text: str) -> tuple[int, timedelta]:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration (whole years and months; "
                         f"e.g. P1M, P1W, PT4H)")
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v}
    months = int(parts.pop("years", 0)) * 12 + int(parts.pop("months", 0))
    return months, timedelta(**parts)


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_duration(text: str) -> bool:
    return text.strip().upper().startswith("P")


def _series(kind: str, value: str, anchor: datetime) -> _Series:
    if kind == "timeDate":
        return _Series(_moment(value), 0, timedelta(0), 0, 1)
    if kind == "timeDuration":
        months, delta = _duration(value)
        _check_positive(months, delta)
        return _Series(anchor, months, delta, 1, 1)
    if kind != "timeCycle":
        raise ValueError(f"unknown timer kind {kind!r}")
    return _cycle(value, anchor)


def _cycle(value: str, anchor: datetime) -> _Series:
    parts = value.strip().split("/")
    repeat = _REPEAT.fullmatch(parts[0])
    if repeat is None or len(parts) not in (2, 3):
        raise ValueError("a cycle is R[n]/start/period, R[n]/period or R[n]/period/end")
    count = int(repeat[1]) if repeat[1] else None
    if len(parts) == 2:
        months, delta = _checked_period(parts[1])
        return _Series(anchor, months, delta, 1, count)
    if _is_duration(parts[1]) and not _is_duration(parts[2]):
        months, delta = _checked_period(parts[1])
        return _Series(_add(_moment(parts[2]), -months, -delta), months, delta, 0, count)
    if not _is_duration(parts[1]) and _is_duration(parts[2]):
        months, delta = _checked_period(parts[2])
        return _Series(_moment(parts[1]), months, delta, 0, count)
    raise ValueError("a cycle is R[n]/start/period, R[n]/period or R[n]/period/end")


def _checked_period(text: str) -> tuple[int, timedelta]:
    months, delta = _duration(text)
    _check_positive(months, delta)
    if not months and delta < MIN_PERIOD:
        raise ValueError(f"the period must be at least {int(MIN_PERIOD.total_seconds())} "
                         f"seconds")
    return months, delta


def _check_positive(months: int, delta: timedelta) -> None:
    if months <= 0 and delta <= timedelta(0):
        raise ValueError("the duration must be longer than zero")


def next_occurrence(
    expression_kind: str, iso_value: str, after: datetime, anchor: datetime
) -> datetime | None:
    """The first occurrence strictly after ``after``; None when there is none any more.

    ``anchor`` is when the schedule was set (the deploy): a cycle without a start begins one
    period after it, a ``timeDuration`` fires once that long after it. ``ValueError`` for a
    value the engine cannot schedule.
    """
    series = _series(expression_kind, iso_value, anchor)
    index = series.index_after(after)
    return None if index is None else series.at(index)


def catch_up(
    expression_kind: str, iso_value: str, anchor: datetime, due: datetime, now: datetime
) -> CatchUp:
    """The occurrences due before ``now`` from ``due`` (the stored next due time) on.

    One instance is started for the latest of them (``scheduled_for``); the earlier ones
    were missed (a worker was down) and are only counted. Occurrences are due strictly
    before ``now``, like instance timers.
    """
    series = _series(expression_kind, iso_value, anchor)
    first_due = series.index_after(due - _ONE_MICROSECOND)
    not_due = series.index_after(now - _ONE_MICROSECOND)  # first occurrence at or after now
    end = not_due if not_due is not None else series.count
    if first_due is None or end is None or end <= first_due:
        # ``due`` is not an occurrence of this series (it cannot be, but never fire twice)
        return CatchUp(due, 0, None if not_due is None else series.at(not_due))
    latest = series.at(end - 1)
    assert latest is not None
    return CatchUp(latest, end - 1 - first_due, None if not_due is None else series.at(not_due))


# --------------------------------------------------------------------------- storage


def sync_schedule(
    session: Session, key: str, version: ProcessVersion, files: Mapping[str, bytes], *,
    roots: Mapping[str, Element] | None = None,
) -> ProcessSchedule | None:
    """Set the model's schedule from a version just stored (delete it when it has none).

    An unchanged value keeps the due time and counts; a changed one starts afresh from now.
    Raises ``DeployRejected`` when the timer start cannot be scheduled. ``roots``: files
    already parsed, as for :func:`timer_start`.
    """
    bpmn = {name: content for name, content in files.items() if name.endswith(".bpmn")}
    try:
        start = timer_start(bpmn, version.process_id, roots=roots)
    except InvalidSchedule as exc:
        raise DeployRejected(key, [Problem(exc.file, exc.line, exc.element_id, str(exc))]) from exc
    schedule = session.scalar(
        select(ProcessSchedule).where(ProcessSchedule.model_id == version.model_id)
    )
    if start is None:
        if schedule is not None:
            session.delete(schedule)
            session.flush()
        return None
    if schedule is None:
        schedule = ProcessSchedule(model_id=version.model_id)
        session.add(schedule)
    elif (schedule.expression_kind, schedule.expression) == (start.kind, start.expression):
        schedule.version_id, schedule.element_id = version.id, start.element_id
        session.flush()
        return schedule
    now = clock.now()
    schedule.version_id, schedule.element_id = version.id, start.element_id
    schedule.expression_kind, schedule.expression = start.kind, start.expression
    schedule.anchor_at = now
    schedule.next_due_at = next_occurrence(start.kind, start.expression, now, now)
    schedule.occurrences_started, schedule.last_instance_id = 0, None
    session.flush()
    return schedule
