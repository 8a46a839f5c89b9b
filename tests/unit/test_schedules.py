"""Schedules of periodic processes: calendar arithmetic, missed occurrences, and the BPMN the
engine parses (the timer start event taken off, the stored file left alone)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from engine import spiff
from engine.clock import ManualClock, use_clock
from engine.schedules import (
    CatchUp,
    InvalidSchedule,
    catch_up,
    executable_bpmn,
    next_occurrence,
    timer_start,
)
from engine.script_sandbox import RestrictedEnvironment


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


ANCHOR = utc(2026, 1, 31, 10, 0)

# (kind, value, after, expected next occurrence strictly after it); anchor is ANCHOR
NEXT = [
    # month ends clamp, computed from the start so they never drift
    ("timeCycle", "R/2026-01-31T08:00:00+00:00/P1M", utc(2026, 1, 1), utc(2026, 1, 31, 8)),
    ("timeCycle", "R/2026-01-31T08:00:00+00:00/P1M", utc(2026, 1, 31, 8), utc(2026, 2, 28, 8)),
    ("timeCycle", "R/2026-01-31T08:00:00+00:00/P1M", utc(2026, 2, 28, 8), utc(2026, 3, 31, 8)),
    ("timeCycle", "R/2026-01-31T08:00:00+00:00/P1M", utc(2026, 4, 1), utc(2026, 4, 30, 8)),
    ("timeCycle", "R/2026-01-31T08:00:00+00:00/P1M", utc(2026, 12, 31, 9), utc(2027, 1, 31, 8)),
    ("timeCycle", "R/2026-08-31T00:00:00Z/P3M", utc(2026, 9, 1), utc(2026, 11, 30)),
    # leap years
    ("timeCycle", "R/2024-01-31T00:00:00Z/P1M", utc(2024, 1, 31), utc(2024, 2, 29)),
    ("timeCycle", "R/2024-02-29T00:00:00Z/P1Y", utc(2024, 2, 29), utc(2025, 2, 28)),
    ("timeCycle", "R/2024-02-29T00:00:00Z/P1Y", utc(2027, 3, 1), utc(2028, 2, 29)),
    ("timeCycle", "R/2100-01-29T00:00:00Z/P1M", utc(2100, 1, 30), utc(2100, 2, 28)),
    # exactly at an occurrence: the next one (strictly after)
    ("timeCycle", "R/2026-01-05T08:00:00Z/P1W", utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)),
    # UTC throughout: a daylight saving change in Europe (29 March 2026) moves nothing
    ("timeCycle", "R/2026-03-28T01:30:00Z/P1D", utc(2026, 3, 29), utc(2026, 3, 29, 1, 30)),
    ("timeCycle", "R/2026-03-28T01:30:00+01:00/P1D", utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)),
    ("timeCycle", "R/2026-10-24T12:00:00Z/PT24H", utc(2026, 10, 25, 13), utc(2026, 10, 26, 12)),
    # naive values are UTC
    ("timeCycle", "R/2026-01-05T08:00:00/P1D", utc(2026, 1, 6), utc(2026, 1, 6, 8)),
    # hours and minutes are exact durations
    ("timeCycle", "R/2026-01-01T00:00:00Z/PT1H30M", utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)),
    # month plus days: the months first, then the days
    ("timeCycle", "R/2026-01-31T00:00:00Z/P1M1D", utc(2026, 2, 1), utc(2026, 3, 1)),
    # Rn stops after n occurrences (the start is the first)
    ("timeCycle", "R3/2026-01-05T08:00:00Z/P1W", utc(2026, 1, 1), utc(2026, 1, 5, 8)),
    ("timeCycle", "R3/2026-01-05T08:00:00Z/P1W", utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)),
    ("timeCycle", "R3/2026-01-05T08:00:00Z/P1W", utc(2026, 1, 19, 8), None),
    ("timeCycle", "R0/2026-01-05T08:00:00Z/P1W", utc(2026, 1, 1), None),
    # R/P1M has no start: anchored at the deploy, the first one a period after it
    ("timeCycle", "R/P1M", ANCHOR, utc(2026, 2, 28, 10)),
    ("timeCycle", "R/P1M", utc(2026, 2, 28, 10), utc(2026, 3, 31, 10)),
    ("timeCycle", "R/P1M", utc(2025, 1, 1), utc(2026, 2, 28, 10)),
    ("timeCycle", "R2/P1D", ANCHOR, utc(2026, 2, 1, 10)),
    ("timeCycle", "R2/P1D", utc(2026, 2, 1, 10), utc(2026, 2, 2, 10)),
    ("timeCycle", "R2/P1D", utc(2026, 2, 2, 10), None),
    # period and end: the first occurrence is one period before the end
    ("timeCycle", "R/P1D/2026-01-10T00:00:00Z", utc(2026, 1, 1), utc(2026, 1, 9)),
    ("timeCycle", "R/P1D/2026-01-10T00:00:00Z", utc(2026, 1, 20, 1), utc(2026, 1, 21)),
    # timeDate: one occurrence
    ("timeDate", "2026-06-01T09:00:00Z", utc(2026, 1, 1), utc(2026, 6, 1, 9)),
    ("timeDate", "2026-06-01T09:00:00+02:00", utc(2026, 1, 1), utc(2026, 6, 1, 7)),
    ("timeDate", "2026-06-01T09:00:00Z", utc(2026, 6, 1, 9), None),
    # timeDuration: one occurrence that long after the deploy
    ("timeDuration", "P2D", ANCHOR, utc(2026, 2, 2, 10)),
    ("timeDuration", "P1M", ANCHOR, utc(2026, 2, 28, 10)),
    ("timeDuration", "P2D", utc(2026, 2, 2, 10), None),
]


@pytest.mark.parametrize(("kind", "value", "after", "expected"), NEXT)
def test_next_occurrence(
    kind: str, value: str, after: datetime, expected: datetime | None
) -> None:
    found = next_occurrence(kind, value, after, ANCHOR)
    assert found == expected
    if found is not None:
        assert found.utcoffset() == timedelta(0)


def test_after_a_local_time_is_compared_as_the_same_instant() -> None:
    cet = timezone(timedelta(hours=1))
    after = datetime(2026, 1, 6, 9, 0, tzinfo=cet)  # 08:00 UTC, exactly the occurrence
    assert next_occurrence("timeCycle", "R/2026-01-05T08:00:00Z/P1D", after, ANCHOR) == utc(
        2026, 1, 7, 8)


def test_far_in_the_future_is_computed_not_stepped() -> None:
    t0 = time.perf_counter()
    found = next_occurrence("timeCycle", "R/2026-01-01T00:00:00Z/PT1M", utc(2090, 5, 17, 3, 4, 5),
                            ANCHOR)
    assert found == utc(2090, 5, 17, 3, 5)
    monthly = next_occurrence("timeCycle", "R/2026-01-31T00:00:00Z/P1M", utc(9000, 3, 1), ANCHOR)
    assert monthly == utc(9000, 3, 31)
    assert time.perf_counter() - t0 < 0.1


def test_no_occurrence_beyond_the_calendar() -> None:
    assert next_occurrence("timeCycle", "R/2026-01-01T00:00:00Z/P1Y", utc(9999, 6, 1),
                           ANCHOR) is None


@pytest.mark.parametrize(("kind", "value"), [
    ("timeCycle", "R/2026-01-01T00:00:00Z/2026-02-01T00:00:00Z"),  # start/end: no period
    ("timeCycle", "R/P0D"),
    ("timeCycle", "R/PT10S"),  # below the minimum period
    ("timeCycle", "R/P1.5M"),  # months must be whole
    ("timeCycle", "2026-01-01T00:00:00Z/P1D"),  # no R
    ("timeCycle", "R/2026-01-01T00:00:00Z/P1D/P1D"),
    ("timeDate", "2026-13-01T00:00:00Z"),
    ("timeDuration", "P"),
    ("timeDuration", "PT0S"),
    ("timeDuration", "tomorrow"),
])
def test_values_the_engine_cannot_schedule(kind: str, value: str) -> None:
    with pytest.raises(ValueError):
        next_occurrence(kind, value, ANCHOR, ANCHOR)


# ---------------------------------------------------------------------- missed occurrences

MONTHLY = "R/2026-01-31T08:00:00+00:00/P1M"


def test_three_missed_periods_start_one_instance_and_count_the_others() -> None:
    due = utc(2026, 2, 28, 8)
    result = catch_up("timeCycle", MONTHLY, ANCHOR, due, utc(2026, 5, 1))
    # Feb 28, Mar 31 and Apr 30 were due: one instance for Apr 30, two missed
    assert result == CatchUp(utc(2026, 4, 30, 8), 2, utc(2026, 5, 31, 8))


def test_only_the_stored_occurrence_is_due() -> None:
    due = utc(2026, 2, 28, 8)
    result = catch_up("timeCycle", MONTHLY, ANCHOR, due, due + timedelta(milliseconds=1))
    assert result == CatchUp(due, 0, utc(2026, 3, 31, 8))


def test_an_occurrence_at_exactly_now_is_not_due_yet() -> None:
    due = utc(2026, 2, 28, 8)
    result = catch_up("timeCycle", MONTHLY, ANCHOR, due, utc(2026, 3, 31, 8))
    assert result == CatchUp(due, 0, utc(2026, 3, 31, 8))


def test_the_next_due_time_is_never_one_already_fired() -> None:
    due = utc(2026, 2, 28, 8)
    now = utc(2026, 3, 31, 8, 0, 0, 1)
    first = catch_up("timeCycle", MONTHLY, ANCHOR, due, now)
    assert first.next_due is not None and first.next_due > now
    assert first.scheduled_for == utc(2026, 3, 31, 8) and first.missed == 1


def test_a_limited_cycle_ends_when_its_last_occurrence_is_caught_up() -> None:
    value = "R3/2026-01-05T08:00:00Z/P1W"
    result = catch_up("timeCycle", value, ANCHOR, utc(2026, 1, 5, 8), utc(2026, 3, 1))
    assert result == CatchUp(utc(2026, 1, 19, 8), 2, None)


def test_a_long_outage_of_a_short_cycle_is_counted_not_stepped() -> None:
    t0 = time.perf_counter()
    value = "R/2026-01-01T00:00:00Z/PT1M"
    result = catch_up("timeCycle", value, ANCHOR, utc(2026, 1, 1), utc(2027, 1, 1, 0, 0, 30))
    minutes_in_2026 = 365 * 24 * 60
    assert result == CatchUp(utc(2027, 1, 1), minutes_in_2026, utc(2027, 1, 1, 0, 1))
    assert time.perf_counter() - t0 < 0.1


@pytest.mark.parametrize(("kind", "value", "due"), [
    ("timeDate", "2026-06-01T09:00:00Z", utc(2026, 6, 1, 9)),
    ("timeDuration", "P2D", utc(2026, 2, 2, 10)),
])
def test_a_single_occurrence_fires_once(kind: str, value: str, due: datetime) -> None:
    assert catch_up(kind, value, ANCHOR, due, due + timedelta(days=400)) == CatchUp(due, 0, None)


# ---------------------------------------------------------------------- the BPMN

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_review" targetNamespace="http://example.org/review">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="Event_monthly">
      <bpmn:outgoing>Flow_1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="Timer_monthly">
        <bpmn:timeCycle>{value}</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:userTask id="Activity_review" name="Review">
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Event_late" attachedToRef="Activity_review">
      <bpmn:timerEventDefinition id="Timer_late">
        <bpmn:timeDuration>"P5D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="Event_done"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Event_monthly" targetRef="Activity_review" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_review" targetRef="Event_done" />
    <bpmn:subProcess id="Activity_sub" triggeredByEvent="true">
      <bpmn:startEvent id="Event_sub_timer" isInterrupting="false">
        <bpmn:outgoing>Flow_sub</bpmn:outgoing>
        <bpmn:timerEventDefinition id="Timer_sub">
          <bpmn:timeDuration>"P1D"</bpmn:timeDuration>
        </bpmn:timerEventDefinition>
      </bpmn:startEvent>
      <bpmn:endEvent id="Event_sub_end"><bpmn:incoming>Flow_sub</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="Flow_sub" sourceRef="Event_sub_timer" targetRef="Event_sub_end" />
    </bpmn:subProcess>
  </bpmn:process>
  <bpmn:process id="other" isExecutable="true">
    <bpmn:startEvent id="Event_other">
      <bpmn:timerEventDefinition id="Timer_other">
        <bpmn:timeDate>"2030-01-01T00:00:00Z"</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
  </bpmn:process>
</bpmn:definitions>
"""

PLAIN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_plain" targetNamespace="http://example.org/plain">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="Event_begin" />
  </bpmn:process>
</bpmn:definitions>
"""


def _bpmn(value: str = '"R/2026-01-05T08:00:00+00:00/P1M"') -> bytes:
    return BPMN.format(value=value).encode()


def _timer_ids(content: bytes) -> set[str]:
    root = etree.fromstring(content, spiff.safe_xml_parser())
    return {str(e.get("id")) for e in root.iter(
        "{http://www.omg.org/spec/BPMN/20100524/MODEL}timerEventDefinition")}


def test_timer_start_evaluates_the_expression_once() -> None:
    found = timer_start({"review.bpmn": _bpmn()}, "review")
    assert found is not None
    assert (found.element_id, found.kind, found.expression) == (
        "Event_monthly", "timeCycle", "R/2026-01-05T08:00:00+00:00/P1M")
    assert (found.file, found.line) == ("review.bpmn", 5)


def test_timer_start_is_computed_with_the_sandbox() -> None:
    found = timer_start({"review.bpmn": _bpmn('"R/" + "P" + str(2) + "W"')}, "review")
    assert found is not None and found.expression == "R/P2W"
    assert RestrictedEnvironment().evaluate('"R/P2W"', {}) == found.expression


def test_other_start_events_and_processes_have_no_schedule() -> None:
    assert timer_start({"plain.bpmn": PLAIN.encode()}, "review") is None
    assert timer_start({"review.bpmn": _bpmn()}, "missing") is None
    other = timer_start({"review.bpmn": _bpmn()}, "other")
    assert other is not None and other.kind == "timeDate"


@pytest.mark.parametrize(("value", "reason"), [
    ("period", "without instance data"),  # a data key: there is no data at a schedule
    ("__import__('os')", "without instance data"),
    ("42", "ISO 8601 string"),
    ('"R/PT1S"', "at least"),
    ('"R/2026-01-01T00:00:00Z/2026-02-01T00:00:00Z"', "start/period"),
])
def test_timer_start_refuses_what_cannot_be_scheduled(value: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule, match=re.escape(reason)) as raised:
        timer_start({"review.bpmn": _bpmn(value)}, "review")
    assert (raised.value.element_id, raised.value.file, raised.value.line) == (
        "Event_monthly", "review.bpmn", 5)


def test_two_timer_starts_are_refused() -> None:
    content = _bpmn().replace(b'<bpmn:userTask', b'''<bpmn:startEvent id="Event_second">
      <bpmn:timerEventDefinition><bpmn:timeCycle>"R/P1D"</bpmn:timeCycle>
      </bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:userTask''', 1)
    with pytest.raises(InvalidSchedule, match="one timer start event"):
        timer_start({"review.bpmn": content}, "review")


def test_executable_bpmn_takes_off_only_the_top_level_timer_start() -> None:
    original = _bpmn()
    stripped = executable_bpmn(original, "review")
    assert _timer_ids(original) == {"Timer_monthly", "Timer_late", "Timer_sub", "Timer_other"}
    # the boundary timer, the event subprocess's timer and the other process's stay
    assert _timer_ids(stripped) == {"Timer_late", "Timer_sub", "Timer_other"}
    root = etree.fromstring(stripped, spiff.safe_xml_parser())
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    [start] = root.xpath("//bpmn:startEvent[@id='Event_monthly']", namespaces=ns)
    assert [etree.QName(c).localname for c in start] == ["outgoing"]
    assert _timer_ids(executable_bpmn(original, "other")) == {
        "Timer_monthly", "Timer_late", "Timer_sub"}


def test_executable_bpmn_leaves_a_file_without_timer_start_as_it_is() -> None:
    plain = PLAIN.encode()
    assert executable_bpmn(plain, "review") is plain
    original = _bpmn()
    assert executable_bpmn(original, "missing") is original


def test_the_stripped_process_runs_one_pass() -> None:
    bpmn = {"review.bpmn": executable_bpmn(_bpmn(), "review")}
    parsed = spiff.parse_process(bpmn, {}, "review")
    engine = spiff.PythonScriptEngine(environment=RestrictedEnvironment())
    workflow = spiff.new_workflow(parsed, engine, {})
    spiff.run_steps(workflow)
    assert [t.title for t in spiff.ready_user_tasks(workflow)] == ["Review"]
    # the cycle is not waiting in the instance (the engine owns the schedule); the boundary
    # timer and the event subprocess's timer are
    assert sorted(t.name for t in spiff.waiting_timers(workflow)) == ["Event_late",
                                                                     "Event_sub_timer"]


def test_unstripped_spiffworkflow_catches_up_every_cycle_in_one_instance() -> None:
    """Why the timer is taken off: the measured behaviour this module exists for."""
    parsed = spiff.parse_process({"review.bpmn": _bpmn()}, {}, "review")
    engine = spiff.PythonScriptEngine(environment=RestrictedEnvironment())
    workflow = spiff.new_workflow(parsed, engine, {})
    previous = use_clock(ManualClock(utc(2026, 6, 1)))
    try:
        spiff.run_steps(workflow)
        spiff.refresh_timers(workflow)
    finally:
        use_clock(previous)
    # Jan 5 to May 5: five cycles caught up at once, each a branch of the same instance
    assert [t.title for t in spiff.ready_user_tasks(workflow)] == ["Review"] * 5
