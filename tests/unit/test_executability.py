"""Constructs this engine cannot execute are reported, each with element id, type and reason,
all at once; harmless artefacts and other vendors' extensions are not; nothing raises."""

from __future__ import annotations

import json
import threading

import pytest

from engine import deploy_checks
from engine.bpmn_import import check_bpmn_file, import_folder
from engine.deploy_checks import CheckedFolder, check_process_folder
from engine.errors import Problem

ROLES = {"Process Owner", "Service Desk"}

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:signavio="http://www.signavio.com"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="Definitions_probe" targetNamespace="http://example.org/probe"{definitions}>
"""


def diagram(body: str, *, executable: str = "true", definitions: str = "",
            before: str = "") -> str:
    """A process ``probe`` with Start_1, End_1 and ``body`` (which must connect them)."""
    return (HEAD.format(definitions=definitions) + before
            + f'  <bpmn:process id="probe" name="Probe" isExecutable="{executable}">\n'
            + '    <bpmn:startEvent id="Start_1"/>\n'
            + '    <bpmn:endEvent id="End_1"/>\n'
            + body
            + "  </bpmn:process>\n</bpmn:definitions>\n")


LINEAR = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_1"/>
    <bpmn:task id="Task_1" name="Do it"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_1" targetRef="End_1"/>
"""


def check(bpmn: str) -> CheckedFolder:
    manifest = {"name": "Probe", "process_id": "probe", "owner_role": "Process Owner",
                "iso20000": {}}
    return check_process_folder("probe", {"probe.bpmn": bpmn.encode(),
                                          "manifest.json": json.dumps(manifest).encode()},
                                known_roles=ROLES)


def only(result: CheckedFolder, element_id: str) -> Problem:
    found = [p for p in result.problems if p.element_id == element_id]
    assert len(found) == 1, "\n".join(str(p) for p in result.problems)
    return found[0]


def between(node: str) -> str:
    """Start_1 -> ``node`` (whose id is Node_1) -> End_1."""
    return (node + '    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Node_1"/>\n'
            '    <bpmn:sequenceFlow id="Flow_2" sourceRef="Node_1" targetRef="End_1"/>\n')


def test_a_linear_process_with_other_vendors_extensions_and_artefacts_passes() -> None:
    body = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_1"/>
    <bpmn:task id="Task_1" name="Do it" camunda:asyncBefore="true">
      <bpmn:extensionElements>
        <signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffff"/>
        <camunda:properties><camunda:property name="x" value="y"/></camunda:properties>
      </bpmn:extensionElements>
    </bpmn:task>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_1" targetRef="End_1"/>
    <bpmn:dataObject id="DataObject_1"/>
    <bpmn:dataObjectReference id="Ref_1" dataObjectRef="DataObject_1"/>
    <bpmn:textAnnotation id="Note_1"><bpmn:text>Just a note</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="Assoc_1" sourceRef="Task_1" targetRef="Note_1"/>
    <bpmn:group id="Group_1"/>
"""
    assert check(diagram(body)).problems == []


@pytest.mark.parametrize(("node", "type_", "reason"), [
    ('<bpmn:complexGateway id="Node_1"/>', "bpmn:complexGateway",
     "is not executable by this engine"),
    ('<bpmn:serviceTask id="Node_1"><bpmn:extensionElements><camunda:connector/>'
     "</bpmn:extensionElements></bpmn:serviceTask>", "bpmn:serviceTask",
     "has no spiffworkflow:serviceTaskOperator"),
    ('<bpmn:businessRuleTask id="Node_1" camunda:decisionRef="d"/>', "bpmn:businessRuleTask",
     "names no decision table"),
    ('<bpmn:scriptTask id="Node_1" scriptFormat="groovy"><bpmn:script>x = 1; y = [</bpmn:script>'
     "</bpmn:scriptTask>", "bpmn:scriptTask", "is written in 'groovy'"),
    ('<bpmn:task id="Node_1"><bpmn:multiInstanceLoopCharacteristics/></bpmn:task>',
     "bpmn:task", "neither loopCardinality nor loopDataInputRef"),
    ('<bpmn:task id="Node_1"><bpmn:standardLoopCharacteristics/></bpmn:task>', "bpmn:task",
     "loops without a loopMaximum or a loopCondition"),
    ('<bpmn:subProcess id="Node_1"><bpmn:task id="Inner_1"/></bpmn:subProcess>',
     "bpmn:subProcess", "has 0 start events"),
    ('<bpmn:intermediateThrowEvent id="Node_1"><bpmn:compensateEventDefinition/>'
     "</bpmn:intermediateThrowEvent>", "bpmn:intermediateThrowEvent",
     "compensation is not supported"),
    ('<bpmn:intermediateThrowEvent id="Node_1"><bpmn:signalEventDefinition signalRef="Nope"/>'
     "</bpmn:intermediateThrowEvent>", "bpmn:intermediateThrowEvent",
     "refers to signal 'Nope', which this file does not declare"),
    ('<bpmn:callActivity id="Node_1"/>', "bpmn:callActivity", "names no calledElement"),
])
def test_construct_is_reported_with_id_type_and_reason(node: str, type_: str,
                                                         reason: str) -> None:
    problem = only(check(diagram(between(f"    {node}\n"))), "Node_1")

    assert problem.message.startswith(type_) and reason in problem.message
    assert problem.file == "probe.bpmn" and problem.line is not None


def test_link_events_signal_end_and_an_error_start_are_not_silently_dropped() -> None:
    body = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Throw_1"/>
    <bpmn:intermediateThrowEvent id="Throw_1"><bpmn:linkEventDefinition name="a"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="Catch_1"><bpmn:linkEventDefinition name="a"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Catch_1" targetRef="Signal_end"/>
    <bpmn:endEvent id="Signal_end"><bpmn:signalEventDefinition/></bpmn:endEvent>
    <bpmn:subProcess id="Handler_1" triggeredByEvent="true">
      <bpmn:startEvent id="Error_start"><bpmn:errorEventDefinition/></bpmn:startEvent>
      <bpmn:sequenceFlow id="Flow_3" sourceRef="Error_start" targetRef="Handler_end"/>
      <bpmn:endEvent id="Handler_end"/>
    </bpmn:subProcess>
"""
    result = check(diagram(body))

    assert "link events are not supported" in only(result, "Throw_1").message
    assert "link events are not supported" in only(result, "Catch_1").message
    assert "without throwing the signal" in only(result, "Signal_end").message
    assert "would run this event subprocess as soon as" in only(result, "Error_start").message


def test_implicit_split_missing_condition_and_an_unconnected_task() -> None:
    body = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_1"/>
    <bpmn:task id="Task_1"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_1" targetRef="Gateway_1"/>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Task_1" targetRef="End_1"/>
    <bpmn:exclusiveGateway id="Gateway_1" default="Flow_4"/>
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Gateway_1" targetRef="End_1"/>
    <bpmn:sequenceFlow id="Flow_5" sourceRef="Gateway_1" targetRef="End_1"/>
    <bpmn:userTask id="Lonely_1"/>
"""
    result = check(diagram(body))

    assert "2 outgoing sequence flows" in only(result, "Task_1").message
    assert "without condition and is not its default flow" in only(result, "Flow_5").message
    assert "has no incoming sequence flow" in only(result, "Lonely_1").message


@pytest.mark.parametrize(("condition", "language"), [
    ("${approved}", "JUEL"),
    ("= approved", "FEEL"),
    ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"'
     ' language="http://www.w3.org/1999/XPath">approved = 1</bpmn:conditionExpression>',
     "XPath"),
])
def test_a_condition_in_another_language_is_reported_once_not_as_a_syntax_error(
    condition: str, language: str,
) -> None:
    if not condition.startswith("<"):
        condition = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>"
    body = f"""    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Gateway_1"/>
    <bpmn:exclusiveGateway id="Gateway_1" default="Flow_2"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Gateway_1" targetRef="End_1"/>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Gateway_1" targetRef="End_1">{condition}
    </bpmn:sequenceFlow>
"""
    problem = only(check(diagram(body)), "Flow_3")

    assert problem.message.startswith("bpmn:sequenceFlow has a condition written in")
    assert language in problem.message and "syntax" not in problem.message


def test_a_language_declared_for_the_whole_file_counts() -> None:
    body = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Timer_1"/>
    <bpmn:intermediateCatchEvent id="Timer_1"><bpmn:timerEventDefinition>
      <bpmn:timeDuration>PT2H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Timer_1" targetRef="End_1"/>
"""
    xpath = ' expressionLanguage="http://www.w3.org/1999/XPath"'

    problem = only(check(diagram(body, definitions=xpath)), "Timer_1")

    assert "has a timer written in XPath" in problem.message


def test_an_unquoted_iso_cycle_is_not_taken_for_python() -> None:
    body = """    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Timer_1"/>
    <bpmn:intermediateCatchEvent id="Timer_1"><bpmn:timerEventDefinition>
      <bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Timer_1" targetRef="End_1"/>
"""
    assert '"R3/PT1H"' in only(check(diagram(body)), "Timer_1").message


def test_data_stores_and_data_nobody_defines_are_reported() -> None:
    store = '  <bpmn:dataStore id="Store_1" name="CRM"/>\n'
    body = between("""    <bpmn:task id="Node_1">
      <bpmn:dataInputAssociation id="In_1"><bpmn:sourceRef>StoreRef_1</bpmn:sourceRef>
        <bpmn:targetRef>Node_1</bpmn:targetRef></bpmn:dataInputAssociation>
    </bpmn:task>
    <bpmn:dataStoreReference id="StoreRef_1" dataStoreRef="Store_1"/>
""")
    result = check(diagram(body, before=store))

    assert only(result, "Store_1").message.startswith("bpmn:dataStore 'CRM' is not supported")
    assert "reads bpmn:dataStoreReference" in only(result, "Node_1").message


def test_a_data_object_missing_inside_a_subprocess_does_not_hang_the_parser() -> None:
    # SpiffWorkflow 3.2.0 looped forever on this (engine.spiff replaces the lookup).
    body = between("""    <bpmn:subProcess id="Node_1">
      <bpmn:startEvent id="Inner_start"/>
      <bpmn:sequenceFlow id="Inner_1" sourceRef="Inner_start" targetRef="Inner_task"/>
      <bpmn:task id="Inner_task">
        <bpmn:dataInputAssociation id="In_1"><bpmn:sourceRef>Ref_1</bpmn:sourceRef>
          <bpmn:targetRef>Inner_task</bpmn:targetRef></bpmn:dataInputAssociation>
      </bpmn:task>
      <bpmn:dataObjectReference id="Ref_1" dataObjectRef="Nowhere"/>
      <bpmn:sequenceFlow id="Inner_2" sourceRef="Inner_task" targetRef="Inner_end"/>
      <bpmn:endEvent id="Inner_end"/>
    </bpmn:subProcess>
""")
    found: list[CheckedFolder] = []
    worker = threading.Thread(target=lambda: found.append(check(diagram(body))), daemon=True)
    worker.start()
    worker.join(timeout=20)

    assert not worker.is_alive(), "the deploy check hangs"
    assert "its data object is not defined here" in only(found[0], "Inner_task").message


def test_a_process_not_marked_executable_is_reported_at_the_process_with_the_rest() -> None:
    body = between('    <bpmn:complexGateway id="Node_1"/>\n')

    result = check(diagram(body, executable="false"))

    assert only(result, "probe").message.startswith("bpmn:process 'Probe' is not executable")
    assert "bpmn:complexGateway" in only(result, "Node_1").message
    assert not [p for p in result.problems if p.file == "manifest.json"]


def test_a_task_without_lane_in_a_process_with_lanes() -> None:
    lanes = """    <bpmn:laneSet id="Lanes_1"><bpmn:lane id="Lane_1" name="Service Desk">
      <bpmn:flowNodeRef>Start_1</bpmn:flowNodeRef><bpmn:flowNodeRef>End_1</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
"""
    problem = only(check(diagram(lanes + LINEAR)), "Task_1")

    assert problem.message.startswith("bpmn:task: ") and "in no lane" in problem.message


def test_a_check_that_breaks_rejects_the_folder_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> list[Problem]:
        raise RuntimeError("boom")

    monkeypatch.setattr(deploy_checks, "executability_problems", broken)

    result = check(diagram(LINEAR))

    [problem] = result.problems
    assert problem.message.endswith("broke on this (RuntimeError: boom)")


# -- import: the manifest made for a lone BPMN file ------------------------------------------


def test_import_names_the_executable_process_and_keeps_the_file_byte_for_byte() -> None:
    bpmn = diagram(LINEAR).encode()

    imported = import_folder("some/dir/Probe diagram.bpmn", bpmn)

    assert imported.files["Probe diagram.bpmn"] is bpmn and imported.problems == []
    assert json.loads(imported.files["manifest.json"]) == {
        "name": "Probe", "process_id": "probe", "owner_role": "Process Owner", "iso20000": {}}
    assert check_bpmn_file("probe.bpmn", bpmn, known_roles=ROLES).problems == []


def test_import_of_a_collaboration_with_several_executable_processes_asks_which() -> None:
    two = diagram(LINEAR).replace(
        "</bpmn:definitions>",
        '<bpmn:process id="partner"><bpmn:startEvent id="S2"/></bpmn:process>'
        '<bpmn:collaboration id="Collab_1"><bpmn:participant id="P1" processRef="probe"/>'
        '<bpmn:participant id="P2" processRef="partner"/></bpmn:collaboration>'
        "</bpmn:definitions>")

    problems = check_bpmn_file("two.bpmn", two.encode(), known_roles=ROLES).problems
    chosen = check_bpmn_file("two.bpmn", two.encode(), known_roles=ROLES,
                             process_id="partner")

    [problem] = problems
    assert problem.element_id == "Collab_1"
    assert problem.message.startswith("bpmn:collaboration has 2 executable processes")
    assert chosen.problems == [] and chosen.manifest is not None
    assert chosen.manifest.process_id == "partner"


@pytest.mark.parametrize(("content", "words"), [
    (b"<not xml", "not well-formed XML"),
    (HEAD.format(definitions="").encode() + b"</bpmn:definitions>", "defines no bpmn:process"),
    (b"", "not well-formed XML"),
])
def test_import_of_something_that_is_no_process_says_why(content: bytes, words: str) -> None:
    problems = check_bpmn_file("x.bpmn", content, known_roles=ROLES).problems

    assert any(words in p.message for p in problems), problems
    assert not [p for p in problems if "'process_id'" in p.message]
