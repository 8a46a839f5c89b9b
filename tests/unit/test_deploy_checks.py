"""Deploy checks of a process folder: every mistake a process owner can make is reported with
the file, the line and the element, and all of them at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.deploy import dependency_order
from engine.deploy_checks import CheckedFolder, check_process_folder
from engine.errors import Problem
from engine.manifest import Manifest

ROLES = {"Service Desk", "Incident Manager"}

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_ticket" targetNamespace="http://example.org/itsm">
  <bpmn:process id="ticket" name="Ticket" isExecutable="true">
    <bpmn:laneSet id="LaneSet_ticket">
      <bpmn:lane id="Lane_desk" name="Service Desk">
        <bpmn:flowNodeRef>StartEvent_ticket</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Task_record</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Task_triage</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Task_classify</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Gateway_urgent</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Task_resolve</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Timer_escalate</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_done</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>End_escalated</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_ticket"/>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_ticket" targetRef="Task_record"/>
    <bpmn:userTask id="Task_record" name="Record ticket">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="record.schema.json"/>
          <spiffworkflow:property name="formUiSchemaFilename" value="record.uischema.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_record" targetRef="Task_triage"/>
    <bpmn:businessRuleTask id="Task_triage" name="Triage">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>triage</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Task_triage" targetRef="Task_classify"/>
    <bpmn:scriptTask id="Task_classify" name="Classify">
      <bpmn:script>urgent = priority == "P1"
checked_at = now()</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Task_classify" targetRef="Gateway_urgent"/>
    <bpmn:exclusiveGateway id="Gateway_urgent" default="Flow_normal"/>
    <bpmn:sequenceFlow id="Flow_urgent" sourceRef="Gateway_urgent" targetRef="Task_resolve">
      <bpmn:conditionExpression>urgent</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_normal" sourceRef="Gateway_urgent" targetRef="End_done"/>
    <bpmn:userTask id="Task_resolve" name="Resolve"/>
    <bpmn:sequenceFlow id="Flow_5" sourceRef="Task_resolve" targetRef="End_done"/>
    <bpmn:boundaryEvent id="Timer_escalate" attachedToRef="Task_resolve">
      <bpmn:timerEventDefinition id="TimerEventDefinition_escalate">
        <bpmn:timeDuration>"PT4H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_6" sourceRef="Timer_escalate" targetRef="End_escalated"/>
    <bpmn:endEvent id="End_done"/>
    <bpmn:endEvent id="End_escalated"/>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_triage"
    name="Triage" namespace="http://example.org/itsm">
  <decision id="triage" name="Triage">
    <decisionTable id="DecisionTable_triage" hitPolicy="UNIQUE">
      <input id="Input_impact" label="Impact">
        <inputExpression id="InputExpression_impact" typeRef="string"><text>impact</text>
        </inputExpression>
      </input>
      <output id="Output_priority" label="Priority" name="priority" typeRef="string"/>
      <rule id="Rule_high">
        <inputEntry id="InputEntry_high"><text>"high"</text></inputEntry>
        <outputEntry id="OutputEntry_high"><text>"P1"</text></outputEntry>
      </rule>
      <rule id="Rule_other">
        <inputEntry id="InputEntry_other"><text>-</text></inputEntry>
        <outputEntry id="OutputEntry_other"><text>"P3"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

SCHEMA = {
    "type": "object",
    "required": ["summary", "impact"],
    "properties": {
        "summary": {"type": "string", "minLength": 3},
        "impact": {"type": "string", "enum": ["high", "low"]},
    },
}
UI_SCHEMA = {"ui:order": ["summary", "impact"]}
MANIFEST = {
    "name": "Ticket handling",
    "process_id": "ticket",
    "owner_role": "Incident Manager",
    "iso20000": {"2018": ["8.6.1"]},
    "business_key_prefix": "TCK",
    "record": {"title": "summary", "priority": "priority"},
}

# A second process, as deployed by another folder, for call activities to resolve into.
CALLED = BPMN.replace('id="ticket"', 'id="assess"').replace("Definitions_ticket", "Defs_a")

LIBRARY_ROOT = Path(__file__).resolve().parents[2] / "bpmn"


def folder(bpmn: str = BPMN, **changes: bytes | str | dict[str, object] | None) -> dict[str, bytes]:
    """The valid folder, with files replaced (a value), added, or removed (None)."""
    files: dict[str, object] = {
        "manifest.json": MANIFEST,
        "ticket.bpmn": bpmn,
        "triage.dmn": DMN,
        "record.schema.json": SCHEMA,
        "record.uischema.json": UI_SCHEMA,
    }
    files.update({name.replace("__", "."): value for name, value in changes.items()})
    return {name: _bytes(value) for name, value in files.items() if value is not None}


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value, indent=2)).encode()


def check(files: dict[str, bytes], library: dict[str, bytes] | None = None) -> CheckedFolder:
    return check_process_folder("ticket", files, known_roles=ROLES, library_bpmn=library)


def changed(old: str, new: str, text: str = BPMN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(needle: str, text: str = BPMN) -> int:
    return text[: text.index(needle)].count("\n") + 1


def only(result: CheckedFolder, file: str, element_id: str | None = None) -> Problem:
    """The one problem about ``file`` (and ``element_id``), failing with the full list."""
    found = [
        p for p in result.problems
        if p.file == file and (element_id is None or p.element_id == element_id)
    ]
    assert len(found) == 1, "\n".join(str(p) for p in result.problems)
    return found[0]


# -- the valid folder ----------------------------------------------------------------------


def test_valid_folder_has_no_problems_and_a_manifest() -> None:
    result = check(folder())

    assert result.problems == []
    assert result.manifest == Manifest(
        name="Ticket handling",
        process_id="ticket",
        owner_role="Incident Manager",
        iso20000={"2018": ["8.6.1"]},
        business_key_prefix="TCK",
        record={"title": "summary", "priority": "priority"},
    )
    assert result.process_ids == {"ticket"}
    assert result.called_processes == set()
    assert result.message_starts == {}


def test_dependency_order_puts_a_called_folder_first() -> None:
    calling = changed('<bpmn:startEvent id="StartEvent_ticket"/>',
                      '<bpmn:startEvent id="StartEvent_ticket"/>'
                      '<bpmn:callActivity id="Call_ext" calledElement="external"/>').encode()
    defining = changed("</bpmn:definitions>",
                       '<bpmn:process id="external"/></bpmn:definitions>').encode()
    describing = changed("</bpmn:definitions>",
                         '<bpmn:process id="external" isExecutable="false"/>'
                         "</bpmn:definitions>").encode()

    assert dependency_order({"a": {"a.bpmn": calling}, "b": {"b.bpmn": defining},
                             "c": {"c.bpmn": b"<not xml"}}) == ["b", "a", "c"]
    # Only executable processes count as defined.
    assert dependency_order({"a": {"a.bpmn": calling},
                             "b": {"b.bpmn": describing}}) == ["a", "b"]


# -- XML and XSD ---------------------------------------------------------------------------


def test_malformed_xml_is_reported_with_its_line() -> None:
    broken = changed('<bpmn:userTask id="Task_resolve" name="Resolve"/>',
                     '<bpmn:userTask id="Task_resolve" name="Resolve">')

    problem = only(check(folder(broken)), "ticket.bpmn")

    assert "not well-formed XML" in problem.message
    assert problem.line is not None and problem.line >= line_of("Task_resolve\" name")


def test_unknown_bpmn_element_fails_the_xsd_with_line_and_id() -> None:
    bad = changed('<bpmn:endEvent id="End_done"/>',
                  '<bpmn:endEvent id="End_done"/>\n    <bpmn:frobnicate id="Thing_1"/>')

    problem = only(check(folder(bad)), "ticket.bpmn")

    assert "bpmn:frobnicate" in problem.message and "not expected" in problem.message
    assert problem.line == line_of("bpmn:frobnicate", bad)
    assert problem.element_id == "Thing_1"


def test_every_xsd_error_is_reported_not_only_the_last() -> None:
    bad = changed('<bpmn:startEvent id="StartEvent_ticket"/>',
                  '<bpmn:startEvent id="StartEvent_ticket" isInterrupting="maybe"/>')
    bad = changed('<bpmn:endEvent id="End_done"/>',
                  '<bpmn:endEvent id="End_done"/>\n    <bpmn:frobnicate id="Thing_1"/>', bad)

    result = check(folder(bad))

    assert [(p.line, p.element_id) for p in result.problems] == [
        (line_of("maybe", bad), "StartEvent_ticket"),
        (line_of("frobnicate", bad), "Thing_1"),
    ]


def test_dmn_xsd_errors_use_the_dmn_prefix() -> None:
    problem = only(check(folder(triage__dmn=DMN.replace("<rule ", "<row ").replace(
        "</rule>", "</row>"))), "triage.dmn")

    assert "dmn:row" in problem.message and problem.line == line_of("<rule ", DMN)


def test_extension_elements_in_other_namespaces_are_allowed() -> None:
    extended = changed('<bpmn:userTask id="Task_resolve" name="Resolve"/>', """<bpmn:userTask
      id="Task_resolve" name="Resolve" xmlns:acme="http://acme.example/x">
      <bpmn:extensionElements><acme:colour>red</acme:colour></bpmn:extensionElements>
    </bpmn:userTask>""")

    assert check(folder(extended)).problems == []


# -- forms ---------------------------------------------------------------------------------


def test_missing_form_file_names_the_user_task() -> None:
    problem = only(check(folder(record__schema__json=None)), "ticket.bpmn")

    assert problem.element_id == "Task_record"
    assert "'record.schema.json' is not in the folder" in problem.message
    assert problem.line == line_of('value="record.schema.json"')


def test_invalid_json_schema_form_is_reported_on_the_form_file() -> None:
    broken = {"type": "object", "properties": {"summary": {"type": "strin"}}}

    problem = only(check(folder(record__schema__json=broken)), "record.schema.json")

    assert problem.element_id == "Task_record"
    assert "form schema" in problem.message and "strin" in problem.message


def test_ui_schema_naming_an_unknown_field_is_reported() -> None:
    ui = {"ui:order": ["summary", "impact", "colour"]}

    problem = only(check(folder(record__uischema__json=ui)), "record.uischema.json")

    assert "colour" in problem.message


# -- scripts, conditions, connectors -------------------------------------------------------


def test_script_syntax_error_gives_the_line_in_the_file_and_the_task() -> None:
    bad = changed("checked_at = now()", "checked_at = now(")

    problem = only(check(folder(bad)), "ticket.bpmn", "Task_classify")

    assert "syntax error" in problem.message
    assert problem.line == line_of("checked_at = now(", bad)


def test_script_with_import_is_rejected_by_the_sandbox() -> None:
    bad = changed('urgent = priority == "P1"', 'import os\nurgent = priority == "P1"')

    problem = only(check(folder(bad)), "ticket.bpmn", "Task_classify")

    assert "import" in problem.message
    assert problem.line == line_of("import os", bad)


def test_bad_condition_names_the_sequence_flow() -> None:
    bad = changed("<bpmn:conditionExpression>urgent<", "<bpmn:conditionExpression>urgent ==<")

    problem = only(check(folder(bad)), "ticket.bpmn", "Flow_urgent")

    assert "condition" in problem.message and "syntax error" in problem.message
    assert problem.line == line_of("urgent ==<", bad)


def test_pre_script_and_connector_parameters_are_compiled() -> None:
    bad = changed('<bpmn:userTask id="Task_resolve" name="Resolve"/>', """<bpmn:userTask
      id="Task_resolve" name="Resolve">
      <bpmn:extensionElements>
        <spiffworkflow:preScript>open("/etc/passwd")</spiffworkflow:preScript>
      </bpmn:extensionElements>
    </bpmn:userTask>""")
    bad = changed('<bpmn:sequenceFlow id="Flow_6"', """<bpmn:serviceTask id="Task_notify">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="notify">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="subject" type="str" value="'Ticket ' +"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="Flow_notify" sourceRef="Task_notify" targetRef="End_escalated"/>
    <bpmn:sequenceFlow id="Flow_6\"""", bad)
    bad = changed('sourceRef="Timer_escalate" targetRef="End_escalated"',
                  'sourceRef="Timer_escalate" targetRef="Task_notify"', bad)

    result = check(folder(bad))

    assert "pre-script" in only(result, "ticket.bpmn", "Task_resolve").message
    assert "'subject'" in only(result, "ticket.bpmn", "Task_notify").message


# -- timers --------------------------------------------------------------------------------


def test_literal_timer_must_be_a_valid_iso_duration() -> None:
    bad = changed('"PT4H"', '"PT4X"')

    problem = only(check(folder(bad)), "ticket.bpmn", "Timer_escalate")

    assert "'PT4X' is not an ISO 8601 duration" in problem.message
    assert problem.line == line_of("PT4X", bad)


def test_timer_naming_a_data_key_is_only_compiled() -> None:
    assert check(folder(changed('"PT4H"', "escalation_after"))).problems == []


@pytest.mark.parametrize(
    ("timer", "expected"),
    [
        ("PT4H", "quote the ISO 8601 value"),
        ('"P"', "not an ISO 8601 duration"),
        ("4 *", "syntax error"),
    ],
)
def test_timer_mistakes_spiffworkflow_would_not_catch(timer: str, expected: str) -> None:
    problem = only(check(folder(changed('"PT4H"', timer))), "ticket.bpmn", "Timer_escalate")

    assert expected in problem.message


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("timeDate", '"2030-01-31T17:00:00Z"', True),
        ("timeDate", '"2030-01-31T17:00:00"', False),  # no zone: would be server local time
        ("timeDate", '"2030-13-31T17:00:00Z"', False),
        ("timeCycle", '"R3/PT1H"', True),
        ("timeCycle", '"R3/PT1X"', False),
    ],
)
def test_literal_dates_and_cycles_are_dry_run(kind: str, value: str, ok: bool) -> None:
    bpmn = changed('<bpmn:timeDuration>"PT4H"</bpmn:timeDuration>',
                   f"<bpmn:{kind}>{value}</bpmn:{kind}>")

    problems = check(folder(bpmn)).problems

    assert (problems == []) is ok, problems


# -- lanes, reserved ids, messages ---------------------------------------------------------


def test_lane_that_is_not_a_known_role_is_rejected() -> None:
    bad = changed('name="Service Desk"', 'name="Nobody"')

    problem = only(check(folder(bad)), "ticket.bpmn", "Lane_desk")

    assert "'Nobody' is not a known role" in problem.message
    assert "Incident Manager, Service Desk" in problem.message
    assert problem.line == line_of('name="Nobody"', bad)


def test_user_task_outside_every_lane_is_rejected() -> None:
    bad = changed("<bpmn:flowNodeRef>Task_resolve</bpmn:flowNodeRef>", "")

    problem = only(check(folder(bad)), "ticket.bpmn", "Task_resolve")

    assert "in no lane" in problem.message


def test_reserved_id_start_is_rejected() -> None:
    bad = BPMN.replace("StartEvent_ticket", "Start")

    problem = only(check(folder(bad)), "ticket.bpmn", "Start")

    assert "reserved" in problem.message
    assert problem.line == line_of('<bpmn:startEvent id="Start"', bad)


def test_message_start_events_are_mapped_and_need_a_named_message() -> None:
    with_message = changed("<bpmn:startEvent id=\"StartEvent_ticket\"/>", """<bpmn:startEvent
      id="StartEvent_ticket"><bpmn:messageEventDefinition id="Def_m" messageRef="Message_new"/>
    </bpmn:startEvent>""")
    named = changed("<bpmn:process ", '<bpmn:message id="Message_new" name="ticket_new"/>\n'
                    "  <bpmn:process ", with_message)
    unnamed = changed("<bpmn:process ", '<bpmn:message id="Message_new"/>\n  <bpmn:process ',
                      with_message)

    assert check(folder(named)).message_starts == {"ticket_new": "ticket"}
    problem = only(check(folder(unnamed)), "ticket.bpmn", "StartEvent_ticket")
    assert "has no name" in problem.message


def test_undeclared_message_is_reported_once_in_plain_words() -> None:
    # SpiffWorkflow itself fails here with a TypeError from its own error reporting.
    bad = changed('<bpmn:startEvent id="StartEvent_ticket"/>', """<bpmn:startEvent
      id="StartEvent_ticket"><bpmn:messageEventDefinition id="Def_m" messageRef="Nope"/>
    </bpmn:startEvent>""")

    problem = only(check(folder(bad)), "ticket.bpmn")

    assert problem.element_id == "StartEvent_ticket"
    assert "'Nope', which this file does not declare" in problem.message


# -- manifest ------------------------------------------------------------------------------


def test_missing_manifest_is_reported() -> None:
    result = check(folder(manifest__json=None))

    assert result.manifest is None
    assert "no manifest.json" in only(result, "manifest.json").message


def test_manifest_process_id_must_be_a_process_in_the_bpmn() -> None:
    manifest = {**MANIFEST, "process_id": "tickets"}

    result = check(folder(manifest__json=manifest))

    problem = only(result, "manifest.json")
    assert "'tickets' is not a process" in problem.message and "found: ticket" in problem.message
    assert problem.line == 3


def test_manifest_fields_are_all_checked_at_once() -> None:
    manifest = {**MANIFEST, "owner_role": "Boss", "business_key_prefix": "tk",
                "record": {"colour": "x"}, "iso20000": {"2018": "8.6.1"}, "extra": 1}

    result = check(folder(manifest__json=manifest))

    messages = " | ".join(p.message for p in result.problems if p.file == "manifest.json")
    for piece in ("'Boss' is not a known role", "'tk'", "'colour' is unknown",
                  "edition '2018'", "unknown key 'extra'"):
        assert piece in messages
    assert result.manifest is None


def test_manifest_that_is_not_json_gives_its_line() -> None:
    problem = only(check(folder(manifest__json=b'{\n  "name": "x",\n  oops\n}')), "manifest.json")

    assert "not valid JSON" in problem.message and problem.line == 3


# -- processes called from elsewhere -------------------------------------------------------


def call_activity_to(process_id: str) -> str:
    return changed('<bpmn:userTask id="Task_resolve" name="Resolve"/>',
                   f'<bpmn:callActivity id="Task_resolve" calledElement="{process_id}"/>')


def test_call_activity_to_an_unknown_process_is_rejected() -> None:
    problem = only(check(folder(call_activity_to("nowhere"))), "ticket.bpmn", "Task_resolve")

    assert "'nowhere'" in problem.message
    assert "neither in this folder nor deployed" in problem.message
    assert problem.line == line_of('calledElement="nowhere"', call_activity_to("nowhere"))


def test_call_activity_into_a_deployed_model_resolves() -> None:
    library = {"assessment/assess.bpmn": CALLED.encode(), "assessment/triage.dmn": DMN.encode()}

    result = check(folder(call_activity_to("assess")), library)

    assert result.problems == []
    assert result.called_processes == {"assess"}


# -- DMN and SpiffWorkflow's own checks ----------------------------------------------------


def test_dmn_hit_policy_first_is_rejected_naming_the_decision() -> None:
    problem = only(check(folder(triage__dmn=DMN.replace("UNIQUE", "FIRST"))), "triage.dmn")

    assert problem.element_id == "triage"
    assert "hit policy FIRST" in problem.message
    assert problem.line == line_of("hitPolicy", DMN)


def test_spiffworkflow_semantic_error_gets_a_line_from_the_xml() -> None:
    # A non-default flow out of an exclusive gateway without a condition: Spiff's own check.
    bad = changed("\n      <bpmn:conditionExpression>urgent</bpmn:conditionExpression>\n    ", "")

    problem = only(check(folder(bad)), "ticket.bpmn", "Flow_urgent")

    assert "without condition" in problem.message
    assert problem.line == line_of('<bpmn:sequenceFlow id="Flow_urgent"', bad)


def test_missing_decision_table_is_reported_on_the_business_rule_task() -> None:
    problem = only(check(folder(triage__dmn=None)), "ticket.bpmn", "Task_triage")

    assert "triage" in problem.message
    assert problem.line == line_of('<bpmn:businessRuleTask id="Task_triage"')


# -- many at once --------------------------------------------------------------------------


def test_several_problems_are_reported_together() -> None:
    bad = changed('"PT4H"', '"PT4X"')
    bad = changed('name="Service Desk"', 'name="Nobody"', bad)
    bad = changed('urgent = priority == "P1"', "import os", bad)
    bad = changed("<bpmn:conditionExpression>urgent<", "<bpmn:conditionExpression>urgent ==<", bad)

    result = check(folder(bad, triage__dmn=DMN.replace("UNIQUE", "FIRST"),
                          manifest__json={**MANIFEST, "owner_role": "Boss"}))

    where = {(p.file, p.element_id) for p in result.problems}
    assert {
        ("ticket.bpmn", "Timer_escalate"),
        ("ticket.bpmn", "Lane_desk"),
        ("ticket.bpmn", "Task_classify"),
        ("ticket.bpmn", "Flow_urgent"),
        ("triage.dmn", "triage"),
        ("manifest.json", None),
    } <= where
    assert result.problems == sorted(result.problems, key=lambda p: (p.file or "", p.line or 0))


def test_garbage_never_raises() -> None:
    result = check({"manifest.json": b"\xff", "x.bpmn": b"", "y.dmn": b"<a/>"})

    assert {p.file for p in result.problems} >= {"manifest.json", "x.bpmn", "y.dmn"}


# -- the shipped library -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["incident", "major_incident"])
def test_shipped_process_folders_pass(key: str) -> None:
    if not (LIBRARY_ROOT / key).is_dir():
        pytest.skip(f"bpmn/{key} not written yet")
    roles = {r["name"] for r in json.loads((LIBRARY_ROOT / "roles.json").read_text())["roles"]}
    files = {p.name: p.read_bytes() for p in (LIBRARY_ROOT / key).iterdir() if p.is_file()}
    library = {f"{p.parent.name}/{p.name}": p.read_bytes()
               for p in LIBRARY_ROOT.glob("*/*.bpmn") if p.parent.name != key}

    result = check_process_folder(key, files, known_roles=roles, library_bpmn=library)

    assert result.problems == []
    assert result.manifest is not None and result.manifest.process_id in result.process_ids
