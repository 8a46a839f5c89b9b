"""The script sandbox: data semantics, helpers, every escape attempt, the time limit, and the
environment running inside SpiffWorkflow."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.connectors import ConnectorContext, ConnectorRegistry, default_registry
from engine.errors import ConnectorFailed, ScriptFailed
from engine.script_sandbox import (
    MAX_CALL_DEPTH,
    RestrictedEnvironment,
    add_duration,
    check_syntax,
    find_process_failure,
)

FIXED_NOW = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
LIMIT = 0.3


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment(clock=lambda: FIXED_NOW, time_limit_seconds=LIMIT)


def failure(env: RestrictedEnvironment, script: str, data: dict[str, Any] | None = None) -> str:
    """Run a script that must fail; return the ScriptFailed message."""
    with pytest.raises(ScriptFailed) as caught:
        env.execute(script, data if data is not None else {})
    return str(caught.value)


# --- data semantics ----------------------------------------------------------------------


def test_script_sets_changes_and_deletes_task_data(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"impact": "high", "old": 1, "count": 1}
    env.execute('priority = 1 if impact == "high" else 3\ncount += 1\ndel old', data)
    assert data == {"impact": "high", "priority": 1, "count": 2}


def test_task_data_dicts_and_lists_are_readable_and_writable(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"x": {}, "items": [1], "info": {"k": "v"}}
    script = (
        'x["a"] = 1\n'
        "items.append(2)\n"
        'found = info.get("k")\n'
        'missing = info.get("nope", "default")\n'
        "first, second = items\n"
        "for key, value in info.items():\n"
        "    pairs = [key, value]\n"
        "total = sum(i * 2 for i in items)\n"
        "squares = {i: i ** 2 for i in range(3)}\n"
        "items_sorted = sorted(items, key=lambda i: -i)\n"
    )
    env.execute(script, data)
    assert data["x"] == {"a": 1}
    assert data["items"] == [1, 2]
    assert (data["found"], data["missing"]) == ("v", "default")
    assert (data["first"], data["second"], data["pairs"]) == (1, 2, ["k", "v"])
    assert data["total"] == 6
    assert data["squares"] == {0: 0, 1: 1, 2: 4}
    assert data["items_sorted"] == [2, 1]


def test_functions_generators_and_temporaries_do_not_leak(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {}
    env.execute("def double(n):\n    return n * 2\nr = double(4)\ng = (i for i in [1])\n"
                "f = lambda: 1\nprint('ignored')\n", data)
    assert data == {"r": 8}
    json.dumps(data)  # what is left is plain data


def test_a_failed_script_leaves_task_data_as_it_was(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"a": 1}
    failure(env, "a = 2\nb = 3\nc = 1 / 0", data)
    assert data == {"a": 1}


def test_task_data_cannot_replace_the_guards(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {"_getattr_": "not a function", "d": {"k": 1}}
    env.execute('v = d.get("k")', data)
    assert data == {"_getattr_": "not a function", "d": {"k": 1}, "v": 1}


def test_conditions_and_expressions(env: RestrictedEnvironment) -> None:
    data = {"priority": 1, "tags": ["a", "b"]}
    assert env.evaluate("priority == 1", data) is True
    assert env.evaluate("\n    priority > 2\n  ", data) is False  # whitespace from the XML
    assert env.evaluate('"PT4H"', data) == "PT4H"
    assert env.evaluate("len(tags) == 2 and 'a' in tags", data) is True
    assert env.evaluate("dmninputexpr <= 2", {}, {"dmninputexpr": 1}) is True
    assert data == {"priority": 1, "tags": ["a", "b"]}


def test_data_that_is_not_an_object_fails_clearly(env: RestrictedEnvironment) -> None:
    # SpiffWorkflow evaluates correlation expressions against a message payload as is.
    with pytest.raises(ScriptFailed, match="the data must be an object, not list"):
        env.evaluate("incident_number", [1, 2])  # type: ignore[arg-type]


def test_an_expression_with_an_unknown_name_fails_clearly(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptFailed, match="Expression line 1: NameError: name 'priorty'"):
        env.evaluate("priorty == 1", {"priority": 1})


def test_compiled_code_is_cached(env: RestrictedEnvironment) -> None:
    from engine.script_sandbox import _compile

    env.evaluate("priority == 12345", {"priority": 1})
    hits = _compile.cache_info().hits
    env.evaluate("priority == 12345", {"priority": 2})
    assert _compile.cache_info().hits == hits + 1


# --- helpers -----------------------------------------------------------------------------


def test_now_uses_the_injected_clock(env: RestrictedEnvironment) -> None:
    assert env.evaluate("now()", {}) == "2024-03-01T09:30:15+00:00"


def test_now_converts_other_offsets_to_utc() -> None:
    clock = lambda: datetime.fromisoformat("2024-03-01T10:30:00+01:00")  # noqa: E731
    env = RestrictedEnvironment(clock=clock)
    assert env.evaluate("now()", {}) == "2024-03-01T09:30:00+00:00"


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        ("2024-03-01T09:00:00+00:00", "PT4H", "2024-03-01T13:00:00+00:00"),
        ("2024-03-01T09:00:00+00:00", "PT4H30M", "2024-03-01T13:30:00+00:00"),
        ("2024-03-01T09:00:00+00:00", "P2D", "2024-03-03T09:00:00+00:00"),
        ("2024-03-01T09:00:00+00:00", "P1DT2H", "2024-03-02T11:00:00+00:00"),
        ("2024-03-01T09:00:00+00:00", "P1W", "2024-03-08T09:00:00+00:00"),
        ("2024-03-01T09:00:00+00:00", "PT90S", "2024-03-01T09:01:30+00:00"),
        ("2024-03-01T09:00:00Z", "PT1M", "2024-03-01T09:01:00+00:00"),
        ("2024-03-01T09:00:00+02:00", "PT1H", "2024-03-01T10:00:00+02:00"),
        ("2024-03-01T09:00:00", "PT1H", "2024-03-01T10:00:00+00:00"),
    ],
)
def test_add_duration(start: str, duration: str, expected: str) -> None:
    assert add_duration(start, duration) == expected


@pytest.mark.parametrize("duration", ["P1M", "P1Y", "PT", "P", "P1DT", "4 hours", "pt4h", ""])
def test_add_duration_rejects_unsupported_durations(duration: str) -> None:
    with pytest.raises(ValueError, match="not a supported ISO 8601 duration"):
        add_duration("2024-03-01T09:00:00+00:00", duration)


def test_add_duration_rejects_a_bad_timestamp() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        add_duration("yesterday", "PT1H")


def test_helpers_inside_a_script(env: RestrictedEnvironment) -> None:
    data: dict[str, Any] = {}
    env.execute('due = add_duration(now(), "PT4H")', data)
    assert data == {"due": "2024-03-01T13:30:15+00:00"}
    message = failure(env, 'due = add_duration(now(), "P1M")')
    assert message.startswith("Script line 1: ValueError: 'P1M' is not a supported")


# --- escape attempts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("import os", "Script line 1: import statements are not allowed"),
        ("x = 1\nfrom os import path", "Script line 2: import statements are not allowed"),
        ("__import__('os')", 'Script line 1: "__import__" is an invalid variable name'),
        ("open('/etc/passwd')", "Script line 1: open() is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "is an invalid attribute name"),
        ("x = {}.__class__", 'Script line 1: "__class__" is an invalid attribute name'),
        ("f = lambda: 1\ng = f.__globals__", 'Script line 2: "__globals__" is an invalid'),
        ("getattr(x, '__class__')", "Script line 1: getattr() is not allowed"),
        ("exec('import os')", "Script line 1: exec() is not allowed"),
        ("eval('1 + 1')", "Script line 1: eval() is not allowed"),
        ("compile('1', 'f', 'eval')", "Script line 1: compile() is not allowed"),
        ("g = globals()", "Script line 1: globals() is not allowed"),
        ("t = type(1)", "Script line 1: type() is not allowed"),
        ("class A:\n    pass", "Script line 1: class definitions are not allowed"),
        ("x = '{0.__class__}'.format(1)", "NotImplementedError: Using the format*() methods"),
        ("raise SystemExit", "NameError: name 'SystemExit' is not defined"),
    ],
)
def test_escape_attempts_fail_with_a_plain_sentence(
    env: RestrictedEnvironment, script: str, expected: str
) -> None:
    assert expected in failure(env, script)


@pytest.mark.parametrize(
    "script",
    [
        "open({path!r}, 'w').write('owned')",
        "f = open\nf({path!r}, 'w')",
        "__builtins__['open']({path!r}, 'w')",
        "exec(\"open({path!r}, 'w')\")",
        "[c for c in ().__class__.__base__.__subclasses__()]",
    ],
)
def test_file_system_is_untouched(env: RestrictedEnvironment, tmp_path: Path, script: str) -> None:
    target = tmp_path / "owned.txt"
    failure(env, script.format(path=str(target)))
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_expressions_are_restricted_too(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptFailed, match="Expression line 1: open\\(\\) is not allowed"):
        env.evaluate("open('/etc/passwd').read()", {})
    with pytest.raises(ScriptFailed, match="is an invalid attribute name"):
        env.evaluate("().__class__", {})


# --- time, depth and size limits ---------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "while True:\n    pass",
        "n = 0\nwhile True:\n    n += 1",
        "x = [i for i in range(10**6) for j in range(10**6)]",
        "x = [i for i in range(10**6) for j in range(10**6) if False]",
        "f = lambda n: n and f(n - 1) + f(n - 1)\nf(60)",
        "def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\nf(60)",
        # A bare except cannot swallow the stop, neither around the loop nor inside it.
        "try:\n    while True:\n        pass\nexcept:\n    pass\nx = 1",
        "while True:\n    try:\n        while True:\n            pass\n    except:\n        pass",
    ],
)
def test_time_limit_stops_runaway_scripts(env: RestrictedEnvironment, script: str) -> None:
    started = time.monotonic()
    message = failure(env, script)
    elapsed = time.monotonic() - started
    assert f"stopped after the time limit of {LIMIT:g} seconds" in message
    assert message.startswith("Script line ")
    assert elapsed < LIMIT + 1.0


def test_time_limit_applies_to_expressions(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptFailed, match="Expression line 1: stopped after the time limit"):
        env.evaluate("any(i < 0 for i in range(10**6) for j in range(10**6))", {})


def test_time_limit_works_outside_the_main_thread(env: RestrictedEnvironment) -> None:
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            env.execute("while True:\n    pass", {})
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=LIMIT + 5)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ScriptFailed)


def test_huge_range_is_refused(env: RestrictedEnvironment) -> None:
    message = failure(env, "for i in range(10**12):\n    pass")
    assert message == "Script line 1: range() of more than 1,000,000 numbers is not allowed"
    data: dict[str, Any] = {}
    env.execute("n = len(range(1000))", data)
    assert data == {"n": 1000}


def test_deep_recursion_is_stopped(env: RestrictedEnvironment) -> None:
    message = failure(env, "def f(n):\n    return f(n + 1)\nf(0)")
    assert message == (
        f"Script line 1: calls nested more than {MAX_CALL_DEPTH} deep (recursion) are not allowed"
    )
    caught = failure(env, "def f(n):\n    try:\n        return f(n + 1)\n    except:\n"
                          "        return 0\nx = f(0)")
    assert "recursion" in caught


def test_lambda_recursion_is_stopped(env: RestrictedEnvironment) -> None:
    assert "RecursionError" in failure(env, "f = lambda n: f(n + 1)\nf(0)")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("x = 10 ** 10 ** 10", "the result of ** would be a number too large"),
        ("x = pow(10, 10 ** 8)", "the result of ** would be a number too large"),
        ("x = 1 << 10 ** 9", "the result of << would be a number too large"),
        ("s = 'x' * 10 ** 9", "repeating a sequence to more than 10,000,000 items"),
        ("s = [0]\ns *= 10 ** 9", "repeating a sequence to more than 10,000,000 items"),
    ],
)
def test_oversized_results_are_refused(
    env: RestrictedEnvironment, script: str, expected: str
) -> None:
    assert expected in failure(env, script)


def test_ordinary_exceptions_become_script_failed_with_cause(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptFailed) as caught:
        env.execute("a = 1\nb = a / 0", {})
    assert str(caught.value) == "Script line 2: ZeroDivisionError: division by zero"
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert failure(env, "y = undefined_name") == (
        "Script line 1: NameError: name 'undefined_name' is not defined"
    )
    assert failure(env, "raise ValueError('bad input')") == (
        "Script line 1: ValueError: bad input"
    )


# --- check_syntax ------------------------------------------------------------------------


def test_check_syntax() -> None:
    assert check_syntax("x = 1\ny = [i for i in range(3)]", "exec") is None
    assert check_syntax("priority == 1", "eval") is None
    assert check_syntax("\n  priority == 1\n", "eval") is None
    assert check_syntax("x = 1\ny = (", "exec") == (
        "Script line 2: syntax error: '(' was never closed"
    )
    assert check_syntax("x = 1\nimport os", "exec") == (
        "Script line 2: import statements are not allowed"
    )
    assert check_syntax("a ==", "eval") == "Expression line 1: syntax error: invalid syntax"
    assert check_syntax("x = 1", "eval") is not None  # a statement is not an expression
    assert check_syntax("x.__class__", "eval") == (
        'Expression line 1: "__class__" is an invalid attribute name because it starts with "_"'
    )
    with pytest.raises(ValueError, match="mode"):
        check_syntax("x", "single")


# --- service calls -----------------------------------------------------------------------


def test_call_service_flattens_params_and_returns_json() -> None:
    seen: list[tuple[dict[str, Any], ConnectorContext]] = []

    def echo(params: dict[str, Any], context: ConnectorContext) -> dict[str, Any]:
        seen.append((params, context))
        return {"got": params}

    registry = ConnectorRegistry({"echo": echo})
    env = RestrictedEnvironment(registry, connector_context=ConnectorContext(instance_id="7"))
    result = env.call_service(
        {"business_key": "INC-000001"},
        operation_name="echo",
        operation_params={"a": {"value": 1, "type": "int"}, "b": {"value": "x", "type": "str"}},
    )
    assert json.loads(result) == {"got": {"a": 1, "b": "x"}}
    _params, context = seen[0]
    assert (context.instance_id, context.business_key) == ("7", "INC-000001")
    with pytest.raises(ConnectorFailed, match="no connector named 'nope'"):
        env.call_service({}, operation_name="nope", operation_params={})


# --- inside SpiffWorkflow ----------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/itsm">
  <bpmn:process id="triage" isExecutable="true">
    <bpmn:startEvent id="start_event"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="classify" name="Classify">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="is_urgent" default="f_normal">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_urgent</bpmn:outgoing>
      <bpmn:outgoing>f_normal</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:serviceTask id="page_on_call" name="Page on call">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="page_result">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="recipient_role" type="str" value="&quot;On Call&quot;"/>
            <spiffworkflow:parameter id="subject" type="str" value="&quot;P1: &quot; + summary"/>
            <spiffworkflow:parameter id="body" type="str" value="summary"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f_urgent</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end_urgent"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_normal"><bpmn:incoming>f_normal</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start_event" targetRef="classify"/>
    <bpmn:sequenceFlow id="f2" sourceRef="classify" targetRef="is_urgent"/>
    <bpmn:sequenceFlow id="f_urgent" sourceRef="is_urgent" targetRef="page_on_call">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >priority == 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_normal" sourceRef="is_urgent" targetRef="end_normal"/>
    <bpmn:sequenceFlow id="f3" sourceRef="page_on_call" targetRef="end_urgent"/>
  </bpmn:process>
</bpmn:definitions>
"""

CLASSIFY = 'priority = 1 if impact == "high" else 3\nsummary = summary.strip().upper()'


def run_triage(
    env: RestrictedEnvironment, data: dict[str, Any], script: str = CLASSIFY,
    operator: str = "notify",
) -> BpmnWorkflow:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_str(BPMN.format(script=script, operator=operator).encode(), "triage.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("triage"), script_engine=PythonScriptEngine(env))
    workflow.task_tree.data.update(data)
    workflow.do_engine_steps()
    return workflow


def test_environment_runs_a_diagram_in_spiffworkflow() -> None:
    env = RestrictedEnvironment(default_registry(), clock=lambda: FIXED_NOW)
    workflow = run_triage(env, {"impact": "high", "summary": " mail down ", "business_key": "I-1"})
    assert workflow.is_completed()
    data = workflow.last_task.data
    assert (data["priority"], data["summary"]) == (1, "MAIL DOWN")
    assert data["page_result"] == {"queued": True}
    assert len(env.outbox) == 1
    note = env.outbox[0]
    assert (note.recipient_role, note.subject) == ("On Call", "P1: MAIL DOWN")
    assert note.body == "MAIL DOWN"

    quiet = RestrictedEnvironment(default_registry())
    workflow = run_triage(quiet, {"impact": "low", "summary": "typo"})
    assert workflow.is_completed()
    assert "page_result" not in workflow.last_task.data
    assert quiet.outbox == []


def test_a_forbidden_script_in_a_diagram_raises_with_script_failed_in_the_chain() -> None:
    env = RestrictedEnvironment(default_registry())
    with pytest.raises(Exception) as caught:
        run_triage(env, {"impact": "high", "summary": "x"}, script="import os")
    assert not isinstance(caught.value, ScriptFailed)  # SpiffWorkflow wrapped it
    original = find_process_failure(caught.value)
    assert isinstance(original, ScriptFailed)
    assert str(original) == "Script line 1: import statements are not allowed"
    assert caught.value.__context__ is original


def test_a_failing_connector_in_a_diagram_keeps_connector_failed_in_the_chain() -> None:
    env = RestrictedEnvironment(default_registry())
    with pytest.raises(Exception) as caught:
        run_triage(env, {"impact": "high", "summary": "x"}, operator="no_such_connector")
    original = find_process_failure(caught.value)
    assert isinstance(original, ConnectorFailed)
    assert "no connector named 'no_such_connector'" in str(original)


def test_find_process_failure_returns_none_without_one() -> None:
    try:
        try:
            raise KeyError("k")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        assert find_process_failure(exc) is None
