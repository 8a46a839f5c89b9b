"""Our own conventions for a process folder (``bpmn/README.md``), checked at deploy time.

Layer 4 of the deploy checks (``engine.deploy_checks``): lanes are known roles, no reserved
ids, messages have names, calls resolve, forms exist and are valid schemas, DMN tables use
hit policies SpiffWorkflow implements; scripts, expressions and timers are checked in
``engine.bpmn_expressions``. These exist because SpiffWorkflow lets such mistakes through,
and some of them make it drop tasks or ignore settings without a word.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from lxml import etree

from engine.bpmn_expressions import code_problems, timer_problems
from engine.errors import Problem
from engine.manifest import MANIFEST_FILE, manifest_process_id
from engine.xml_problems import (
    BPMN_NS,
    NS,
    PROCESS,
    Document,
    Element,
    element_by_id,
    executable_ids,
    problem_at,
)
from forms.errors import FormFileError
from forms.json_text import parse_json
from forms.schema_check import check_form_schema, check_ui_schema

__all__ = [
    "call_problems",
    "convention_problems",
    "form_problems",
    "manifest_process_problems",
    "message_starts",
]

# SpiffWorkflow names task specs "Start" and "End" itself; an element with such an id
# replaces them and the tasks after it vanish from the parsed process without an error.
_RESERVED_IDS = ("Start", "End")
_HIT_POLICIES = ("UNIQUE", "COLLECT")  # the only ones SpiffWorkflow's DMN engine implements
_HUMAN_TASKS = ("userTask", "manualTask", "task")  # Spiff runs a plain bpmn:task as manual
_CONDITIONAL_SOURCES = ("exclusiveGateway", "inclusiveGateway")


# -- BPMN ------------------------------------------------------------------------------------


def convention_problems(doc: Document, known_roles: Collection[str]) -> list[Problem]:
    """The convention checks that need only this one file."""
    if doc.is_dmn:
        return _dmn_problems(doc)
    return [
        *_reserved_id_problems(doc),
        *code_problems(doc),
        *_condition_source_problems(doc),
        *timer_problems(doc),
        *_message_problems(doc),
        *_lane_problems(doc, known_roles),
    ]


def _reserved_id_problems(doc: Document) -> list[Problem]:
    return [
        problem_at(doc, e, f"the id {e.get('id')!r} is reserved (SpiffWorkflow would silently "
                           "drop the tasks after it); choose another id")
        for e in doc.root.iter(f"{{{BPMN_NS}}}*")
        if e.get("id") in _RESERVED_IDS
    ]


def _condition_source_problems(doc: Document) -> list[Problem]:
    # SpiffWorkflow reads conditions only on flows out of exclusive and inclusive gateways;
    # anywhere else the flow is taken whatever the condition says.
    problems = []
    for flow in doc.root.iterfind(".//bpmn:sequenceFlow[bpmn:conditionExpression]", NS):
        source = element_by_id(doc, flow.get("sourceRef"))
        if source is not None and etree.QName(source).localname not in _CONDITIONAL_SOURCES:
            problems.append(problem_at(doc, flow, "a condition on a flow that does not leave an "
                                                  "exclusive or inclusive gateway is ignored"))
    return problems


def _message_problems(doc: Document) -> list[Problem]:
    names = {m.get("id"): m.get("name") for m in doc.root.iterfind(".//bpmn:message", NS)}
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
        problems.append(problem_at(doc, element, message))
    return problems


def _message_references(root: Element) -> Iterator[Element]:
    yield from root.iterfind(".//bpmn:messageEventDefinition", NS)
    for tag in ("receiveTask", "sendTask"):
        for task in root.iterfind(f".//bpmn:{tag}", NS):
            if task.find("bpmn:messageEventDefinition", NS) is None:
                yield task


def _lane_problems(doc: Document, known_roles: Collection[str]) -> list[Problem]:
    known = ", ".join(sorted(known_roles)) or "none"
    problems = []
    for process in doc.root.iterfind(PROCESS, NS):
        lanes = process.findall(".//bpmn:lane", NS)
        for lane in lanes:
            name = lane.get("name")
            if not name:
                problems.append(problem_at(doc, lane, "the lane has no name; a lane's name is the "
                                                      "role that works its tasks"))
            elif name not in known_roles:
                problems.append(problem_at(doc, lane, f"lane {name!r} is not a known role; "
                                                      f"known roles: {known}"))
        if lanes:
            problems += _laneless_task_problems(doc, process, lanes)
    return problems


def _laneless_task_problems(doc: Document, process: Element, lanes: list[Element]) -> list[Problem]:
    # Exact text, no strip: SpiffWorkflow matches flowNodeRef text as written.
    refs = {ref.text for lane in lanes for ref in lane.iterfind("bpmn:flowNodeRef", NS)}
    problems = []
    for tag in _HUMAN_TASKS:
        for task in process.iterfind(f".//bpmn:{tag}", NS):
            # A task inside a subprocess works in the subprocess's lane.
            if not any(e.get("id") in refs for e in (task, *task.iterancestors())):
                problems.append(problem_at(doc, task, "the task is in no lane, so no role may "
                                                      "work it; put it in a lane"))
    return problems


def call_problems(docs: list[Document], resolvable: set[str]) -> list[Problem]:
    """Call activities whose called process is not in ``resolvable``."""
    return [
        problem_at(doc, call, f"calls process {call.get('calledElement')!r}, which is neither in "
                              "this folder nor deployed")
        for doc in docs
        for call in doc.root.iterfind(".//bpmn:callActivity[@calledElement]", NS)
        if call.get("calledElement") not in resolvable
    ]


def message_starts(docs: list[Document]) -> tuple[dict[str, str], list[Problem]]:
    """Message name -> process it starts; a name may start only one process."""
    starts: dict[str, str] = {}
    problems: list[Problem] = []
    for doc in docs:
        names = {m.get("id"): m.get("name") for m in doc.root.iterfind(".//bpmn:message", NS)}
        executable = executable_ids(doc.root)
        for process in doc.root.iterfind(PROCESS, NS):
            process_id = str(process.get("id"))
            path = "bpmn:startEvent/bpmn:messageEventDefinition"
            for definition in process.iterfind(path, NS) if process_id in executable else ():
                name = names.get(definition.get("messageRef"))
                if name and starts.setdefault(name, process_id) != process_id:
                    problems.append(problem_at(doc, definition, f"message {name!r} already starts "
                                                                f"process {starts[name]!r}"))
    return starts, problems


# -- forms, DMN, manifest --------------------------------------------------------------------


def form_problems(docs: list[Document], files: Mapping[str, bytes]) -> list[Problem]:
    """Form files named by user tasks exist and are valid; each file is checked once."""
    problems: list[Problem] = []
    checked: set[tuple[str, str]] = set()
    for doc in docs:
        for task in doc.root.iterfind(".//bpmn:userTask", NS):
            forms = _form_properties(task)
            missing = [(p, n) for p, n in forms.values() if n not in files]
            problems += [problem_at(doc, p, f"the form file {n!r} is not in the folder")
                         for p, n in missing]
            if not missing:
                problems += _form_file_problems(task, forms, files, checked)
    return problems


def _form_properties(task: Element) -> dict[str, tuple[Element, str]]:
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    wanted = ("formJsonSchemaFilename", "formUiSchemaFilename")
    return {
        p.get("name"): (p, p.get("value") or "")
        for p in task.iterfind(path, NS)
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


def _dmn_problems(doc: Document) -> list[Problem]:
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


def manifest_process_problems(files: Mapping[str, bytes], docs: list[Document]) -> list[Problem]:
    """The manifest's ``process_id`` names an executable process of the BPMN files."""
    process_id, line = manifest_process_id(files)
    unreadable = {n for n in files if n.endswith(".bpmn")} - {d.name for d in docs}
    if process_id is None or unreadable:
        return []  # the manifest's or the file's own problem says why
    processes = {p.get("id"): p for d in docs for p in d.root.iterfind(PROCESS, NS)}
    if process_id not in processes:
        found = ", ".join(sorted(str(p) for p in processes)) or "none"
        return [Problem(MANIFEST_FILE, line, None, f"process_id {process_id!r} is not a process "
                                                   f"in the BPMN files (found: {found})")]
    return []  # a process not marked executable is reported at the process (executability)
