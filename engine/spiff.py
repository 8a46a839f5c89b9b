"""The one module that knows SpiffWorkflow's shapes.

Everything else in the engine works with the small dataclasses defined here (ready user
tasks, waiting timers, waiting messages, thrown events). An upgrade of SpiffWorkflow touches
this file (and the re-exported parser names used by deploy checks and the sandbox).

Three things here exist because of measured facts about SpiffWorkflow 3.2.0:

* the saved state leaves out the spec (about 4x smaller); parsed specs are shared per
  process version and handed back in on restore, without converting them from dicts;
* its timer classes read the wall clock directly, so that clock is routed to
  ``engine.clock`` and every part of the system agrees on "now";
* its parser loops forever on a data association inside a subprocess whose data object
  neither the subprocess nor its parent defines (it re-reads the parent instead of walking
  up), so that lookup is replaced by one that walks every enclosing process and stops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer
from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.parser.node_parser import NodeParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import (
    MessageEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from engine import clock

__all__ = [
    "PARSED_FLOW_NODES",
    "SERIALIZER_VERSION",
    "VALIDATOR",
    "ParsedProcess",
    "PythonScriptEngine",
    "ReadyUserTask",
    "SpiffBpmnParser",
    "SpiffWorkflowException",
    "TaskDataEnvironment",
    "ThrownEvent",
    "TimerEventDefinition",
    "ValidationException",
    "WaitingMessage",
    "WaitingTimer",
    "complete_user_task",
    "deliver_message",
    "deliver_signal",
    "dump_state",
    "full_serializer",
    "load_state",
    "new_workflow",
    "parse_process",
    "safe_xml_parser",
]


class _ClockedDatetime(datetime):
    """``datetime`` whose ``now()`` asks ``engine.clock``; installed into Spiff's timer module."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockedDatetime:
        value = clock.now()
        value = value.astimezone(tz) if tz is not None else value
        return cls.fromtimestamp(value.timestamp(), value.tzinfo)


_spiff_timer.datetime = _ClockedDatetime


def _resolve_data_object_ref(self: Any, ref: Any) -> Any:
    """The data object a ``bpmn:dataObjectReference`` names, from the innermost process out.

    Replaces SpiffWorkflow 3.2.0's version, which looks in the task's process and then in
    its parent over and over: a reference that neither defines hung the deploy check (and
    any parse) for good. Not found is ``None``, which Spiff reports as a validation error.
    """
    current = self.process_parser if ref is not None else None
    while current is not None:
        spec = getattr(current, "spec", None)
        found = None if spec is None else spec.data_objects.get(ref.get("dataObjectRef"))
        if found is not None:
            return found
        current = current.parent
    return None


NodeParser._resolve_data_object_ref = _resolve_data_object_ref

#: Local names of the BPMN flow nodes SpiffWorkflow's parser builds task specs for; any
#: other flow node (a complex gateway) is refused, or dropped when nothing leads to it.
PARSED_FLOW_NODES = frozenset(
    etree.QName(tag).localname
    for tag in (*SpiffBpmnParser.PARSER_CLASSES, *SpiffBpmnParser.OVERRIDE_PARSER_CLASSES)
)


def safe_xml_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entities and fetches nothing (diagrams are untrusted)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedProcess:
    """A process spec and the specs of the subprocesses it calls, shared by all instances."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]


def parse_process(
    bpmn: Mapping[str, bytes], dmn: Mapping[str, bytes], process_id: str
) -> ParsedProcess:
    """Parse BPMN and DMN files (name -> bytes) and return the spec of ``process_id``."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, content in bpmn.items():
        parser.add_bpmn_xml(etree.fromstring(content, safe_xml_parser()), filename=name)
    for name, content in dmn.items():
        parser.add_dmn_xml(etree.fromstring(content, safe_xml_parser()), filename=name)
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    return ParsedProcess(process_id, spec, dict(subprocess_specs))


# --------------------------------------------------------------------------- state


class _SharedSpecConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Saves a workflow without its spec and restores it around a spec object we hand in."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        workflow = self.target_class(
            dct.pop("spec"), dct.pop("subprocess_specs"), deserializing=True
        )
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SharedSpecConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_SERIALIZER = _make_serializer()
SERIALIZER_VERSION: str = _SERIALIZER.VERSION


def full_serializer() -> BpmnWorkflowSerializer:
    """SpiffWorkflow's own serializer, spec included (what the benchmark's raw run uses)."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def dump_state(workflow: BpmnWorkflow) -> str:
    """The instance's own state as JSON (no spec)."""
    return _SERIALIZER.serialize_json(workflow)  # type: ignore[no-any-return]


def load_state(
    state: str, parsed: ParsedProcess, script_engine: PythonScriptEngine
) -> BpmnWorkflow:
    """Restore a workflow saved by :func:`dump_state` around the shared spec."""
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    dct.pop(_SERIALIZER.VERSION_KEY, None)
    dct["spec"] = parsed.spec
    dct["subprocess_specs"] = parsed.subprocess_specs
    workflow: BpmnWorkflow = _SERIALIZER.from_dict(dct)
    # The script engine is not part of the saved state.
    workflow.script_engine = script_engine
    return workflow


def new_workflow(
    parsed: ParsedProcess, script_engine: PythonScriptEngine, data: Mapping[str, Any]
) -> BpmnWorkflow:
    """A fresh workflow with ``data`` as initial data (scripts see it), not yet stepped."""
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine)
    workflow.task_tree.data.update(data)
    return workflow


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class ReadyUserTask:
    guid: str
    process_id: str  # the process (top or called) whose spec holds the task
    spec_name: str
    title: str
    lane: str | None
    form_schema: str | None
    form_ui_schema: str | None
    instructions: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class WaitingTimer:
    guid: str
    name: str | None
    due_at: datetime


@dataclass(frozen=True)
class WaitingMessage:
    guid: str
    message_name: str
    # (property name, value the instance expects; None when it cannot be computed yet),
    # a tuple so waiting messages can be compared and hashed
    correlations: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class ThrownEvent:
    """A message or signal an instance threw that nothing inside it caught."""

    kind: str  # "message" or "signal"
    name: str
    payload: Any
    correlations: dict[str, Any]


def _workflows(workflow: BpmnWorkflow) -> Iterator[BpmnWorkflow]:
    yield workflow
    yield from workflow.subprocesses.values()


def ready_user_tasks(workflow: BpmnWorkflow) -> list[ReadyUserTask]:
    """Ready manual tasks of the workflow and its running subprocesses (call activities)."""
    result = []
    for wf in _workflows(workflow):
        # Each subprocess is visited by this loop: do not let get_tasks descend into it too
        # (that listed a called process's tasks twice, once under the caller's process id).
        for task in wf.get_tasks(state=TaskState.READY, manual=True, skip_subprocesses=True):
            spec = task.task_spec
            extensions = getattr(spec, "extensions", {}) or {}
            properties = extensions.get("properties", {}) or {}
            result.append(
                ReadyUserTask(
                    guid=str(task.id),
                    process_id=wf.spec.name,
                    spec_name=spec.name,
                    title=spec.bpmn_name or spec.name,
                    lane=spec.lane,
                    form_schema=properties.get("formJsonSchemaFilename"),
                    form_ui_schema=properties.get("formUiSchemaFilename"),
                    instructions=extensions.get("instructionsForEndUser"),
                    data=task.data,
                )
            )
    return result


def find_ready_user_task(workflow: BpmnWorkflow, guid: str) -> ReadyUserTask | None:
    return next((t for t in ready_user_tasks(workflow) if t.guid == guid), None)


def _waiting_event_tasks(workflow: BpmnWorkflow) -> list[Any]:
    return [
        t
        for t in workflow.event_manager.tasks.values()
        if t.state == TaskState.WAITING or t.state == TaskState.STARTED
    ]


def _definitions(task: Any) -> list[Any]:
    """The event definitions a waiting task listens for (an event-based gateway has several)."""
    definition = task.task_spec.event_definition
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition]


def _message_definition(task: Any, name: str) -> Any:
    return next(d for d in _definitions(task)
                if isinstance(d, MessageEventDefinition) and d.name == name)


def waiting_timers(workflow: BpmnWorkflow) -> list[WaitingTimer]:
    """Timers the instance waits on, with the due times Spiff computed."""
    result = []
    for task in _waiting_event_tasks(workflow):
        definition = next(
            (d for d in _definitions(task) if isinstance(d, TimerEventDefinition)), None
        )
        if definition is None:
            continue
        value = task._get_internal_data("event_value")
        if isinstance(definition, CycleTimerEventDefinition) and isinstance(value, dict):
            value = value.get("next")
        if isinstance(value, str):
            due = TimerEventDefinition.get_datetime(value)
            name = getattr(definition, "name", None) or task.task_spec.bpmn_name
            result.append(WaitingTimer(str(task.id), name, due))
    return result


def waiting_messages(workflow: BpmnWorkflow) -> list[WaitingMessage]:
    """Message catch events waiting, with the correlation values the instance expects."""
    result = []
    for task in _waiting_event_tasks(workflow):
        for definition in _definitions(task):
            if isinstance(definition, SignalEventDefinition):
                result.append(WaitingMessage(str(task.id), "signal:" + definition.name))
            elif isinstance(definition, MessageEventDefinition):
                correlations = tuple(sorted(
                    (prop.name, _evaluate_or_none(workflow, task, prop.retrieval_expression))
                    for prop in definition.correlation_properties
                ))
                result.append(WaitingMessage(str(task.id), definition.name, correlations))
    return result


def _evaluate_or_none(workflow: BpmnWorkflow, task: Any, expression: str) -> str | None:
    try:
        value = workflow.script_engine.evaluate(task, expression)
    except Exception:  # a key the instance has not set yet: nothing can match it
        return None
    return None if value is None else str(value)


# --------------------------------------------------------------------------- actions


def complete_user_task(workflow: BpmnWorkflow, guid: str, data: Mapping[str, Any]) -> None:
    task = workflow.get_task_from_id(UUID(guid))
    task.set_data(**data)
    task.run()


def deliver_message(
    workflow: BpmnWorkflow,
    guid: str,
    name: str,
    payload: Mapping[str, Any],
    correlation: Mapping[str, Any],
) -> None:
    """Hand an outside message to the waiting catch event ``guid``.

    Spiff re-evaluates the correlation properties' retrieval expressions on the payload, so
    the correlation values travel inside the payload too, and the event carries them keyed
    by correlation key, as Spiff compares them once the instance has correlations.
    """
    task = workflow.get_task_from_id(UUID(guid))
    definition = _message_definition(task, name)
    keyed: dict[str, dict[str, Any]] = {}
    for prop in definition.correlation_properties:
        for key in prop.correlation_keys:
            keyed.setdefault(key, {})[prop.name] = correlation.get(prop.name)
    body = {**dict(payload), **dict(correlation)}
    workflow.send_event(
        BpmnEvent(MessageEventDefinition(definition.name), body, correlations=keyed)
    )


def deliver_signal(workflow: BpmnWorkflow, name: str, payload: Any) -> None:
    workflow.send_event(BpmnEvent(SignalEventDefinition(name), payload))


def run_steps(workflow: BpmnWorkflow) -> None:
    workflow.do_engine_steps()


def refresh_timers(workflow: BpmnWorkflow) -> None:
    workflow.refresh_timers()
    workflow.do_engine_steps()


def drain_thrown_events(workflow: BpmnWorkflow) -> list[ThrownEvent]:
    """Take the events the instance threw and did not catch itself."""
    result = []
    for event in workflow.get_events():
        definition = event.event_definition
        kind = "signal" if isinstance(definition, SignalEventDefinition) else "message"
        flat: dict[str, Any] = {}
        for values in (event.correlations or {}).values():
            flat.update(values)
        result.append(ThrownEvent(kind, definition.name, event.payload, flat))
    return result


def is_completed(workflow: BpmnWorkflow) -> bool:
    return bool(workflow.is_completed())


def workflow_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data an observer sees: the last completed task's data, else the initial data."""
    last = workflow.last_task
    source = last.data if last is not None else workflow.task_tree.data
    return dict(source)


def cancel(workflow: BpmnWorkflow) -> None:
    workflow.cancel()
