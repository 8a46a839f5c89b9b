"""Deploy-time checks of one process folder: everything knowable before an instance runs.

Every problem of every layer is collected (never just the first), so a process owner sees
the whole list after one deploy attempt:

1. ``manifest.json`` (``engine.manifest``);
2. each ``.bpmn`` / ``.dmn`` file is well-formed XML and valid against the BPMN 2.0 / DMN XSD;
3. SpiffWorkflow's own parse of every executable process (its semantic checks);
4. our conventions (``bpmn/README.md``): forms exist and are valid schemas, scripts and
   expressions pass the sandbox's compile check, literal timers are valid ISO 8601, lanes are
   known roles, no reserved ids, messages have names, DMN hit policies SpiffWorkflow implements.

Layer 4 exists because SpiffWorkflow looks at scripts, conditions and timers only when they
run, and some mistakes make it drop tasks or ignore settings without a word.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from lxml import etree

from engine.errors import Problem
from engine.manifest import MANIFEST_FILE, Manifest, check_manifest, manifest_process_id
from engine.script_sandbox import check_syntax
from engine.spiff import (
    VALIDATOR,
    SpiffBpmnParser,
    TimerEventDefinition,
    ValidationException,
    safe_xml_parser,
)
from forms.errors import FormFileError
from forms.json_text import parse_json
from forms.schema_check import check_form_schema, check_ui_schema

__all__ = ["CheckedFolder", "check_process_folder", "process_ids_in"]

Element = Any  # an lxml element; lxml ships no type hints

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
_PREFIXES = {
    BPMN_NS: "bpmn:",
    SPIFF_NS: "spiffworkflow:",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi:",
    "http://www.omg.org/spec/DD/20100524/DC": "dc:",
    "http://www.omg.org/spec/DD/20100524/DI": "di:",
}
# SpiffWorkflow names task specs "Start" and "End" itself; an element with such an id
# replaces them and the tasks after it vanish from the parsed process without an error.
_RESERVED_IDS = ("Start", "End")
_HIT_POLICIES = ("UNIQUE", "COLLECT")  # the only ones SpiffWorkflow's DMN engine implements
_HUMAN_TASKS = ("userTask", "manualTask")
_CONDITIONAL_SOURCES = ("exclusiveGateway", "inclusiveGateway")
_INTERNAL_ERROR = "SpiffWorkflow could not parse this"

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

_NUM = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
_TIMER_EXAMPLES = {
    "timeDuration": 'duration, e.g. "PT4H"',
    "timeDate": 'date and time, e.g. "2030-01-31T17:00:00Z"',
    "timeCycle": 'repeating interval, e.g. "R3/PT1H"',
}
_NOT_LITERAL = object()
_PROCESS = "bpmn:process[@id]"
_SANDBOX_LINE = re.compile(r"(?:Script|Expression)(?: line (\d+))?: (.*)", re.DOTALL)


@dataclass(frozen=True)
class CheckedFolder:
    """What the checks found out about one process folder."""

    manifest: Manifest | None
    problems: list[Problem]
    called_processes: set[str]  # called by a callActivity, defined outside this folder
    process_ids: set[str]  # executable processes this folder defines
    message_starts: dict[str, str]  # message name -> process id it starts


@dataclass(frozen=True)
class _Doc:
    """One well-formed ``.bpmn`` or ``.dmn`` file of the folder."""

    name: str
    root: Element
    is_dmn: bool
    schema_valid: bool


def check_process_folder(
    key: str,
    files: Mapping[str, bytes],
    *,
    known_roles: Collection[str],
    library_bpmn: Mapping[str, bytes] | None = None,
) -> CheckedFolder:
    """Check the folder ``key`` (file name -> content); never raises for bad content.

    ``library_bpmn`` holds the files (name -> content) of models already deployed, so call
    activities into them resolve; ``.dmn`` names in it are read as decision tables.
    """
    manifest, problems = check_manifest(files, known_roles)
    docs, load_problems = _load_documents(files)
    problems += load_problems
    if not any(name.endswith(".bpmn") for name in files):
        problems.append(Problem(None, None, None, f"process folder {key!r} has no .bpmn file"))
    bpmn_docs = [doc for doc in docs if not doc.is_dmn]
    defined = {str(p.get("id")) for d in bpmn_docs for p in d.root.iterfind(_PROCESS, _NS)}
    called = {c for doc in bpmn_docs for c in _called_ids(doc.root)} - defined
    library = dict(library_bpmn or {}) if called else {}
    starts, own = _message_starts(bpmn_docs)
    own += [p for doc in docs for p in _own_problems(doc, known_roles)]
    own += _form_problems(bpmn_docs, files)
    own += _call_problems(bpmn_docs, defined | _library_ids(library))
    problems += own + _unechoed(_spiff_problems(docs, library, defined), own)
    problems += _manifest_process_problems(files, bpmn_docs)
    process_ids = {pid for doc in bpmn_docs for pid in _executable_ids(doc.root)}
    return CheckedFolder(manifest, _ordered(problems), called, process_ids, starts)


def process_ids_in(bpmn: bytes) -> set[str]:
    """Executable process ids a BPMN file defines; none when the file is not XML."""
    try:
        return _executable_ids(etree.fromstring(bpmn, safe_xml_parser()))
    except (etree.XMLSyntaxError, ValueError):
        return set()


# -- XML and XSD ---------------------------------------------------------------------------


def _load_documents(files: Mapping[str, bytes]) -> tuple[list[_Doc], list[Problem]]:
    """Parse every diagram and decision file; report syntax and XSD errors with lines."""
    docs: list[_Doc] = []
    problems: list[Problem] = []
    for name in sorted(n for n in files if n.endswith((".bpmn", ".dmn"))):
        try:
            root = etree.fromstring(files[name], safe_xml_parser())
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(name, exc.lineno, None, f"not well-formed XML: {exc.msg}"))
            continue
        found = _schema_problems(name, root, name.endswith(".dmn"))
        problems += found
        docs.append(_Doc(name, root, name.endswith(".dmn"), not found))
    return docs, problems


def _schema_problems(name: str, root: Element, is_dmn: bool) -> list[Problem]:
    if is_dmn:
        namespace = etree.QName(root).namespace
        schema = _dmn_schema(namespace)
        if schema is None:
            message = f"not a DMN 1.1, 1.2 or 1.3 document (namespace {namespace!r})"
            return [Problem(name, root.sourceline, None, message)]
    else:
        VALIDATOR.preprocess(root)  # the rewrite SpiffWorkflow makes before it validates
        schema = VALIDATOR.validator
    if schema.validate(root):
        return []
    # The whole error log, not SpiffWorkflow's validate(), which keeps only the last error.
    return [
        Problem(name, error.line, _id_at_line(root, error.line), _plain_xsd(error.message))
        for error in schema.error_log
    ]


@lru_cache(maxsize=8)
def _dmn_schema(namespace: str | None) -> Any:
    """The XSD SpiffWorkflow uses for this DMN version, or None for a version it lacks."""
    path = SpiffBpmnParser().dmn_schemas.get(namespace)
    return None if path is None else etree.XMLSchema(etree.parse(path))


def _plain_xsd(message: str) -> str:
    """Write namespaces as the usual prefixes and cut long lists of expected elements."""
    message = re.sub(r"\{([^}]*)\}", lambda m: _prefix(m[1]) or m[0], message)
    expected = re.search(r"Expected is one of \( (.*) \)", message)
    if expected and expected[1].count(",") > 5:
        names = expected[1].split(", ")
        message = message.replace(expected[1], ", ".join([*names[:6], "..."]))
    return message


def _prefix(namespace: str) -> str | None:
    return "dmn:" if "/DMN/" in namespace else _PREFIXES.get(namespace)


def _id_at_line(root: Element, line: int) -> str | None:
    element = next((e for e in root.iter(etree.Element) if e.sourceline == line), None)
    return None if element is None else _owner_id(element)


# -- SpiffWorkflow's parse -------------------------------------------------------------------


def _spiff_problems(
    docs: list[_Doc], library: dict[str, bytes], defined: set[str]
) -> list[Problem]:
    """Parse the folder the way the engine will and turn each refusal into a Problem."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    problems: list[Problem] = []
    parsed: list[_Doc] = []
    for doc in (d for d in docs if d.schema_valid):
        add = parser.add_dmn_xml if doc.is_dmn else parser.add_bpmn_xml
        found = _attempt(docs, doc.name, add, doc.root, filename=doc.name)
        problems += found
        if not found and not doc.is_dmn:
            parsed.append(doc)
    _add_library(parser, library, defined)
    for dmn in list(parser.dmn_parsers.values()):
        if dmn.filename in {doc.name for doc in docs}:  # DMN is parsed lazily otherwise
            problems += _attempt(docs, dmn.filename, dmn.parse)
    for doc in parsed:
        for process_id in sorted(_executable_ids(doc.root)):
            problems += _attempt(docs, doc.name, _parse_process, parser, process_id)
    return problems


def _parse_process(parser: Any, process_id: str) -> None:
    parser.get_spec(process_id)
    # Missing called processes are reported by _call_problems, with the element and line.
    parser.get_subprocess_specs(process_id, require_call_activity_specs=False)


def _add_library(parser: Any, library: dict[str, bytes], defined: set[str]) -> None:
    """Add deployed models; a process this folder redefines comes from the folder."""
    for name in sorted(library):
        try:
            root = etree.fromstring(library[name], safe_xml_parser())
            if name.endswith(".dmn"):
                parser.add_dmn_xml(root, filename=name)
            elif not {p.get("id") for p in root.iterfind(_PROCESS, _NS)} & defined:
                parser.add_bpmn_xml(root, filename=name)
        except Exception:  # deployed models were checked when they were deployed
            continue


def _attempt(docs: list[_Doc], file: str, func: Callable[..., Any], *args: Any,
             **kwargs: Any) -> list[Problem]:
    """Run one parser step; its exception, whatever it is, becomes a Problem."""
    try:
        func(*args, **kwargs)
    except ValidationException as exc:
        return [_from_validation(exc, file, docs)]
    except Exception as exc:  # a parser bug must reject the folder, not crash the deploy
        return [Problem(file, None, None, f"{_INTERNAL_ERROR} file ({type(exc).__name__}: {exc})")]
    return []


def _from_validation(exc: ValidationException, fallback: str, docs: list[_Doc]) -> Problem:
    # Spiff leaves line_number empty for semantic errors (it reads an attribute lxml lacks)
    # and file_name empty for some (e.g. a missing decision table): look the id up instead.
    element_id = exc.id or None
    file = exc.file_name or _file_with(element_id, docs) or fallback
    line = exc.line_number if isinstance(exc.line_number, int) else None
    if line is None and element_id is not None:
        line = _line_of(element_id, next((d for d in docs if d.name == file), None))
    message = str(exc.args[0]) if exc.args else type(exc).__name__  # str(exc) appends ". "
    if re.match(r"[A-Z]\w*(Error|Exception)\(", message):  # Spiff wrapped its own bug
        message = f"{_INTERNAL_ERROR} element ({message})"
    return Problem(file, line, element_id, message)


def _unechoed(spiff: list[Problem], own: list[Problem]) -> list[Problem]:
    """Drop Spiff's internal errors about elements our own checks already explain."""
    explained = {(p.file, p.element_id) for p in own}
    return [
        p for p in spiff
        if not (p.message.startswith(_INTERNAL_ERROR) and (p.file, p.element_id) in explained)
    ]


# -- our conventions: BPMN -------------------------------------------------------------------


def _own_problems(doc: _Doc, known_roles: Collection[str]) -> list[Problem]:
    if doc.is_dmn:
        return _dmn_problems(doc)
    return [
        *_reserved_id_problems(doc),
        *_code_problems(doc),
        *_condition_source_problems(doc),
        *_timer_problems(doc),
        *_message_problems(doc),
        *_lane_problems(doc, known_roles),
    ]


def _reserved_id_problems(doc: _Doc) -> list[Problem]:
    return [
        _problem(doc, e, f"the id {e.get('id')!r} is reserved (SpiffWorkflow would silently "
                         "drop the tasks after it); choose another id")
        for e in doc.root.iter(f"{{{BPMN_NS}}}*")
        if e.get("id") in _RESERVED_IDS
    ]


def _code_problems(doc: _Doc) -> list[Problem]:
    """Scripts and expressions must pass the sandbox's compile check."""
    problems = [
        _problem(doc, task, "the script task has no script")
        for task in doc.root.iterfind(".//bpmn:scriptTask", _NS)
        if not (task.findtext("bpmn:script", "", _NS)).strip()
    ]
    for path, mode, what in _CODE:
        for element in doc.root.iterfind(f".//{path}", _NS):
            problems += _compile_problems(doc, element, element.text, mode, what)
    for param in doc.root.iterfind(".//spiffworkflow:parameter[@value]", _NS):
        what = f"connector parameter {param.get('id')!r}"
        problems += _compile_problems(doc, param, param.get("value"), "eval", what)
    return problems


def _compile_problems(
    doc: _Doc, element: Element, source: str | None, mode: str, what: str
) -> list[Problem]:
    if source is None or not source.strip():
        # An empty script does nothing; an empty expression cannot be evaluated.
        return [] if mode == "exec" else [_problem(doc, element, f"the {what} is empty")]
    error = check_syntax(source, mode)
    if error is None:
        return []
    # The sandbox says "Script line 2: ..."; report that line of the file instead.
    where = _SANDBOX_LINE.match(error)
    line, reason = (where[1], where[2]) if where else (None, error)
    problem = _problem(doc, element, f"the {what} is rejected: {reason}")
    if line is not None and source == element.text:  # text, not an attribute: count lines
        skipped = len(source) - len(source.lstrip()) if mode == "eval" else 0  # eval strips
        offset = source[:skipped].count("\n") + int(line) - 1
        problem = replace(problem, line=element.sourceline + offset)
    return [problem]


def _condition_source_problems(doc: _Doc) -> list[Problem]:
    # SpiffWorkflow reads conditions only on flows out of exclusive and inclusive gateways;
    # anywhere else the flow is taken whatever the condition says.
    problems = []
    for flow in doc.root.iterfind(".//bpmn:sequenceFlow[bpmn:conditionExpression]", _NS):
        source = _element(doc, flow.get("sourceRef"))
        if source is not None and etree.QName(source).localname not in _CONDITIONAL_SOURCES:
            problems.append(_problem(doc, flow, "a condition on a flow that does not leave an "
                                                "exclusive or inclusive gateway is ignored"))
    return problems


def _timer_problems(doc: _Doc) -> list[Problem]:
    problems = []
    for definition in doc.root.iterfind(".//bpmn:timerEventDefinition", _NS):
        values = [e for e in definition if etree.QName(e).localname in _TIMER_EXAMPLES]
        if not values:
            problems.append(_problem(doc, definition, "the timer has no timeDuration, "
                                                      "timeDate or timeCycle"))
        for element in values:
            problems += _timer_value_problems(doc, element)
    return problems


def _timer_value_problems(doc: _Doc, element: Element) -> list[Problem]:
    """Compile the timer expression; dry-run it when it is a literal (needs no data)."""
    kind = etree.QName(element).localname
    source = (element.text or "").strip()
    found = _compile_problems(doc, element, source, "eval", f"timer {kind}")
    if found:
        return found
    value = _literal(source)
    if value is _NOT_LITERAL:
        if _DURATION.fullmatch(source):  # a bare PT4H is a valid name, read as a data key
            return [_problem(doc, element, f"the timer {kind} {source} would be read as a data "
                                           f'key; quote the ISO 8601 value: "{source}"')]
        return []  # it names data keys: only known when the instance runs
    message = _iso_problem(kind, value)
    return [] if message is None else [_problem(doc, element, message)]


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


def _message_problems(doc: _Doc) -> list[Problem]:
    names = {m.get("id"): m.get("name") for m in doc.root.iterfind(".//bpmn:message", _NS)}
    problems = []
    for element in _message_references(doc.root):
        ref = element.get("messageRef")
        if ref is None:
            message = "names no message; set messageRef to a declared bpmn:message"
        elif ref not in names:
            message = f"refers to message {ref!r}, which this file does not declare"
        elif not names[ref]:
            message = f"the message {ref!r} has no name; callers send messages by name"
        else:
            continue
        problems.append(_problem(doc, element, message))
    return problems


def _message_references(root: Element) -> Iterator[Element]:
    yield from root.iterfind(".//bpmn:messageEventDefinition", _NS)
    for tag in ("receiveTask", "sendTask"):
        for task in root.iterfind(f".//bpmn:{tag}", _NS):
            if task.find("bpmn:messageEventDefinition", _NS) is None:
                yield task


def _lane_problems(doc: _Doc, known_roles: Collection[str]) -> list[Problem]:
    known = ", ".join(sorted(known_roles)) or "none"
    problems = []
    for process in doc.root.iterfind(_PROCESS, _NS):
        lanes = process.findall(".//bpmn:lane", _NS)
        for lane in lanes:
            name = lane.get("name")
            if not name:
                problems.append(_problem(doc, lane, "the lane has no name; a lane's name is the "
                                                    "role that works its tasks"))
            elif name not in known_roles:
                problems.append(_problem(doc, lane, f"lane {name!r} is not a known role; "
                                                    f"known roles: {known}"))
        if lanes:
            problems += _laneless_task_problems(doc, process, lanes)
    return problems


def _laneless_task_problems(doc: _Doc, process: Element, lanes: list[Element]) -> list[Problem]:
    # Exact text, no strip: SpiffWorkflow matches flowNodeRef text as written.
    refs = {ref.text for lane in lanes for ref in lane.iterfind("bpmn:flowNodeRef", _NS)}
    problems = []
    for tag in _HUMAN_TASKS:
        for task in process.iterfind(f".//bpmn:{tag}", _NS):
            # A task inside a subprocess works in the subprocess's lane.
            if not any(e.get("id") in refs for e in (task, *task.iterancestors())):
                problems.append(_problem(doc, task, "the task is in no lane, so no role may "
                                                    "work it; put it in a lane"))
    return problems


def _call_problems(docs: list[_Doc], resolvable: set[str]) -> list[Problem]:
    return [
        _problem(doc, call, f"calls process {call.get('calledElement')!r}, which is neither in "
                            "this folder nor deployed")
        for doc in docs
        for call in doc.root.iterfind(".//bpmn:callActivity[@calledElement]", _NS)
        if call.get("calledElement") not in resolvable
    ]


def _message_starts(docs: list[_Doc]) -> tuple[dict[str, str], list[Problem]]:
    """Message name -> process it starts; a name may start only one process."""
    starts: dict[str, str] = {}
    problems: list[Problem] = []
    for doc in docs:
        names = {m.get("id"): m.get("name") for m in doc.root.iterfind(".//bpmn:message", _NS)}
        executable = _executable_ids(doc.root)
        for process in doc.root.iterfind(_PROCESS, _NS):
            process_id = str(process.get("id"))
            path = "bpmn:startEvent/bpmn:messageEventDefinition"
            for definition in process.iterfind(path, _NS) if process_id in executable else ():
                name = names.get(definition.get("messageRef"))
                if name and starts.setdefault(name, process_id) != process_id:
                    problems.append(_problem(doc, definition, f"message {name!r} already starts "
                                                              f"process {starts[name]!r}"))
    return starts, problems


# -- our conventions: forms, DMN, manifest ---------------------------------------------------


def _form_problems(docs: list[_Doc], files: Mapping[str, bytes]) -> list[Problem]:
    """Form files named by user tasks exist and are valid; each file is checked once."""
    problems: list[Problem] = []
    checked: set[tuple[str, str]] = set()
    for doc in docs:
        for task in doc.root.iterfind(".//bpmn:userTask", _NS):
            forms = _form_properties(task)
            missing = [(p, n) for p, n in forms.values() if n not in files]
            problems += [_problem(doc, p, f"the form file {n!r} is not in the folder")
                         for p, n in missing]
            if not missing:
                problems += _form_file_problems(task, forms, files, checked)
    return problems


def _form_properties(task: Element) -> dict[str, tuple[Element, str]]:
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    wanted = ("formJsonSchemaFilename", "formUiSchemaFilename")
    return {
        p.get("name"): (p, p.get("value") or "")
        for p in task.iterfind(path, _NS)
        if p.get("name") in wanted
    }


def _form_file_problems(task: Element, forms: dict[str, tuple[Element, str]],
                        files: Mapping[str, bytes], checked: set[tuple[str, str]]) -> list[Problem]:
    schema_name = forms.get("formJsonSchemaFilename", (None, ""))[1]
    ui_name = forms.get("formUiSchemaFilename", (None, ""))[1]
    problems: list[Problem] = []
    if schema_name and (schema_name, "") not in checked:
        checked.add((schema_name, ""))
        problems += [Problem(schema_name, None, task.get("id"), f"form schema: {sentence}")
                     for sentence in check_form_schema(files[schema_name])]
    if ui_name and schema_name and (ui_name, schema_name) not in checked:
        checked.add((ui_name, schema_name))
        schema = _json_object(files[schema_name])
        problems += [Problem(ui_name, None, task.get("id"), f"UI schema: {sentence}")
                     for sentence in check_ui_schema(files[ui_name], schema)]
    return problems


def _json_object(raw: bytes) -> dict[str, Any]:
    """The form schema as an object; empty when broken (its own check says why)."""
    try:
        value = parse_json(raw)
    except FormFileError:
        return {}
    return value if isinstance(value, dict) else {}


def _dmn_problems(doc: _Doc) -> list[Problem]:
    problems = []
    for table in doc.root.iter("{*}decisionTable"):
        decision_id = table.getparent().get("id")
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        if policy not in _HIT_POLICIES:
            problems.append(Problem(doc.name, table.sourceline, decision_id,
                                    f"decision {decision_id!r} has hit policy {policy}; "
                                    "only UNIQUE and COLLECT are supported"))
        if table.get("aggregation"):
            problems.append(Problem(doc.name, table.sourceline, decision_id,
                                    f"decision {decision_id!r} aggregates its results, which "
                                    "SpiffWorkflow ignores; remove the aggregation"))
    return problems


def _manifest_process_problems(files: Mapping[str, bytes], docs: list[_Doc]) -> list[Problem]:
    process_id, line = manifest_process_id(files)
    unreadable = {n for n in files if n.endswith(".bpmn")} - {d.name for d in docs}
    if process_id is None or unreadable:
        return []  # the manifest's or the file's own problem says why
    processes = {p.get("id"): p for d in docs for p in d.root.iterfind(_PROCESS, _NS)}
    if process_id not in processes:
        found = ", ".join(sorted(str(p) for p in processes)) or "none"
        return [Problem(MANIFEST_FILE, line, None, f"process_id {process_id!r} is not a process "
                                                   f"in the BPMN files (found: {found})")]
    if processes[process_id].get("isExecutable", "true") != "true":
        return [Problem(MANIFEST_FILE, line, None, f"process {process_id!r} is not executable; "
                                                   'set isExecutable="true"')]
    return []


# -- small helpers ---------------------------------------------------------------------------


def _executable_ids(root: Element) -> set[str]:
    # SpiffWorkflow's rule: a process without isExecutable counts as executable.
    return {
        str(p.get("id"))
        for p in root.iterfind(_PROCESS, _NS)
        if p.get("isExecutable", "true") == "true"
    }


def _called_ids(root: Element) -> set[str]:
    return {str(c.get("calledElement"))
            for c in root.iterfind(".//bpmn:callActivity[@calledElement]", _NS)}


def _library_ids(library: Mapping[str, bytes]) -> set[str]:
    return {pid for name, raw in library.items() if name.endswith(".bpmn")
            for pid in process_ids_in(raw)}


def _problem(doc: _Doc, element: Element, message: str) -> Problem:
    return Problem(doc.name, element.sourceline, _owner_id(element), message)


def _owner_id(element: Element) -> str | None:
    """Id of the nearest BPMN element that a process owner knows (not an event definition)."""
    for candidate in (element, *element.iterancestors()):
        qname = etree.QName(candidate)
        if (candidate.get("id") and qname.namespace == BPMN_NS
                and not qname.localname.endswith("EventDefinition")):
            return str(candidate.get("id"))
    return None


def _element(doc: _Doc, element_id: str | None) -> Element | None:
    if element_id is None:
        return None
    found = doc.root.xpath("//*[@id=$id]", id=element_id)
    return found[0] if found else None


def _file_with(element_id: str | None, docs: list[_Doc]) -> str | None:
    return next((d.name for d in docs if _element(d, element_id) is not None), None)


def _line_of(element_id: str, doc: _Doc | None) -> int | None:
    element = None if doc is None else _element(doc, element_id)
    return None if element is None else int(element.sourceline)


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Without repeats, by file and line, so a listing reads top to bottom."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file or "", p.line or 0))
