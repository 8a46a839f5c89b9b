"""Scripts, expressions and timers of a BPMN file: what can be checked before they run.

Part of layer 4 of the deploy checks (``engine.deploy_checks``). SpiffWorkflow looks at
scripts, conditions and timers only when an instance reaches them, so a typo would surface
weeks after the deploy; here every one must pass the sandbox's compile check, and a literal
timer value must be valid ISO 8601 the way SpiffWorkflow reads it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from lxml import etree

from engine.errors import Problem
from engine.script_sandbox import check_syntax
from engine.spiff import TimerEventDefinition
from engine.xml_problems import NS, Document, Element, problem_at

__all__ = ["code_problems", "foreign_language", "timer_problems"]

# (path below the definitions, how it is compiled, what the process owner calls it)
_CODE = (
    ("bpmn:scriptTask/bpmn:script", "exec", "script"),
    ("spiffworkflow:preScript", "exec", "pre-script"),
    ("spiffworkflow:postScript", "exec", "post-script"),
    ("bpmn:sequenceFlow/bpmn:conditionExpression", "eval", "condition"),
    ("bpmn:conditionalEventDefinition/bpmn:condition", "eval", "condition"),
    ("bpmn:loopCardinality", "eval", "loop cardinality"),
    ("bpmn:completionCondition", "eval", "completion condition"),
    ("bpmn:loopCondition", "eval", "loop condition"),
    ("spiffworkflow:messagePayload", "eval", "message payload"),
)
_SANDBOX_LINE = re.compile(r"(?:Script|Expression)(?: line (\d+))?: (.*)", re.DOTALL)

_NUM = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
# A bare repeating interval (R3/PT1H) is valid Python too: names divided by names.
_BARE_CYCLE = re.compile(r"R\d*/\S+", re.IGNORECASE)
_TIMER_EXAMPLES = {
    "timeDuration": 'duration, e.g. "PT4H"',
    "timeDate": 'date and time, e.g. "2030-01-31T17:00:00Z"',
    "timeCycle": 'repeating interval, e.g. "R3/PT1H"',
}
_NOT_LITERAL = object()
# (what a language URI or script format contains, its name; None: Python, ours)
_LANGUAGES = (("python", None), ("xpath", "XPath"), ("feel", "FEEL"), ("groovy", "Groovy"),
              ("javascript", "JavaScript"), ("ecmascript", "JavaScript"), ("juel", "JUEL"),
              ("java", "Java"), ("mvel", "MVEL"))


def foreign_language(element: Element, root: Element) -> str | None:
    """The language of a non-empty expression or script when it is not Python, by name.

    Diagrams from other tools carry JUEL (``${approved}``), FEEL (``= approved``, Camunda 8)
    or an XPath/FEEL ``language`` (on the expression or the ``bpmn:definitions``). Such an
    expression is not compiled here: ``engine.executability`` reports it as not executable.
    """
    source = (element.text or "").strip()
    if not source:
        return None
    if etree.QName(element).localname == "script":
        parent = element.getparent()
        return _language_name(None if parent is None else parent.get("scriptFormat"))
    if source.startswith(("${", "#{")):
        return "JUEL (${...})"
    if source.startswith("=") and not source.startswith("=="):
        return "FEEL (=...)"
    return _language_name(element.get("language") or root.get("expressionLanguage"))


def _language_name(uri: str | None) -> str | None:
    if not uri or not uri.strip():
        return None
    lowered = uri.lower()
    return next((name for needle, name in _LANGUAGES if needle in lowered), repr(uri))


def code_problems(doc: Document) -> list[Problem]:
    """Scripts and expressions must pass the sandbox's compile check."""
    problems = [
        problem_at(doc, task, "the script task has no script")
        for task in doc.root.iterfind(".//bpmn:scriptTask", NS)
        if not (task.findtext("bpmn:script", "", NS)).strip()
    ]
    for path, mode, what in _CODE:
        for element in doc.root.iterfind(f".//{path}", NS):
            if foreign_language(element, doc.root) is None:
                problems += _compile_problems(doc, element, element.text, mode, what)
    for param in doc.root.iterfind(".//spiffworkflow:parameter[@value]", NS):
        what = f"connector parameter {param.get('id')!r}"
        problems += _compile_problems(doc, param, param.get("value"), "eval", what)
    return problems


def _compile_problems(
    doc: Document, element: Element, source: str | None, mode: str, what: str
) -> list[Problem]:
    if source is None or not source.strip():
        # An empty script does nothing; an empty expression cannot be evaluated.
        return [] if mode == "exec" else [problem_at(doc, element, f"the {what} is empty")]
    error = check_syntax(source, mode)
    if error is None:
        return []
    # The sandbox says "Script line 2: ..."; report that line of the file instead.
    where = _SANDBOX_LINE.match(error)
    line, reason = (where[1], where[2]) if where else (None, error)
    problem = problem_at(doc, element, f"the {what} is rejected: {reason}")
    if line is not None and source == element.text:  # text, not an attribute: count lines
        skipped = len(source) - len(source.lstrip()) if mode == "eval" else 0  # eval strips
        offset = source[:skipped].count("\n") + int(line) - 1
        problem = replace(problem, line=element.sourceline + offset)
    return [problem]


def timer_problems(doc: Document) -> list[Problem]:
    """Every timer has a value, and a literal value is one SpiffWorkflow reads as meant."""
    problems = []
    for definition in doc.root.iterfind(".//bpmn:timerEventDefinition", NS):
        values = [e for e in definition if etree.QName(e).localname in _TIMER_EXAMPLES]
        if not values:
            problems.append(problem_at(doc, definition, "the timer has no timeDuration, "
                                                        "timeDate or timeCycle"))
        for element in values:
            problems += _timer_value_problems(doc, element)
    return problems


def _timer_value_problems(doc: Document, element: Element) -> list[Problem]:
    """Compile the timer expression; dry-run it when it is a literal (needs no data)."""
    kind = etree.QName(element).localname
    source = (element.text or "").strip()
    if foreign_language(element, doc.root) is not None:
        return []  # not executable at all: ``engine.executability`` says so
    found = _compile_problems(doc, element, source, "eval", f"timer {kind}")
    if found:
        return found
    value = _literal(source)
    if value is _NOT_LITERAL:
        if _DURATION.fullmatch(source):  # a bare PT4H is a valid name, read as a data key
            return [problem_at(doc, element, f"the timer {kind} {source} would be read as a data "
                                             f'key; quote the ISO 8601 value: "{source}"')]
        if _BARE_CYCLE.fullmatch(source):
            return [problem_at(doc, element, f"the timer {kind} {source} would be computed from "
                                             "data keys (a division in Python); quote the ISO "
                                             f'8601 value: "{source}"')]
        return []  # it names data keys: only known when the instance runs
    message = _iso_problem(kind, value)
    return [] if message is None else [problem_at(doc, element, message)]


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _iso_problem(kind: str, value: Any) -> str | None:
    expected = _TIMER_EXAMPLES[kind]
    if not isinstance(value, str):
        return f"the timer {kind} must give an ISO 8601 {expected}, not {value!r}"
    try:
        {"timeDuration": _check_duration, "timeDate": _check_date,
         "timeCycle": _check_cycle}[kind](value)
    except Exception as exc:  # Spiff's ISO parsers raise Exception, ValueError, IndexError
        detail = f" ({exc})" if isinstance(exc, _TimerAdvice) else ""
        return f"the timer {kind} {value!r} is not an ISO 8601 {expected}{detail}"
    return None


class _TimerAdvice(ValueError):
    """A timer value SpiffWorkflow would take but read differently from what was meant."""


def _check_duration(value: str) -> None:
    # Spiff's parser alone accepts "P", "" and junk before the T (e.g. "XT1H").
    if not _DURATION.fullmatch(value):
        raise ValueError(value)
    TimerEventDefinition.parse_iso_duration(value)


def _check_date(value: str) -> None:
    if not isinstance(TimerEventDefinition.parse_time_or_duration(value), datetime):
        raise ValueError(value)
    if "W" not in value.upper() and datetime.fromisoformat(value).tzinfo is None:
        raise _TimerAdvice("add Z or an offset; without one the server's local time is used")


def _check_cycle(value: str) -> None:
    parts = value.split("/")
    if not parts[0].upper().startswith("R") or len(parts) < 2:
        raise ValueError(value)
    for part in parts[1:]:
        if part.upper().startswith("P"):
            _check_duration(part)
    TimerEventDefinition.parse_iso_recurring_interval(value)
