"""The conformance check: which claimed ISO 20000 requirements a folder's diagrams still meet."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.conformance import (
    check_conformance,
    clause_sort_key,
    coverage_rows,
    format_clauses,
)
from engine.manifest import Manifest, Requirement, check_manifest

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
CLAUSES = {"2011": "8.1", "2018": "8.6.1"}

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_ticket" targetNamespace="http://example.org/itsm">
  <bpmn:process id="ticket" isExecutable="true">
    <bpmn:startEvent id="Start_ticket"/>
    <bpmn:userTask id="Task_record" name="Record"/>
    <bpmn:userTask id="Task_review" name="Manager review">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json"/>
          <spiffworkflow:property name="iso.requirement" value="ticket.escalate"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_reassign" sourceRef="Task_record" targetRef="Task_record">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="iso.requirement" value="ticket.unlisted"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:sequenceFlow>
    <bpmn:endEvent id="End_ticket"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_ticket">
    <bpmndi:BPMNPlane id="Plane_ticket" bpmnElement="ticket">
      <bpmndi:BPMNShape id="Task_inform_di" bpmnElement="Task_inform"/>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _manifest(*requirements: Requirement) -> Manifest:
    return Manifest(name="Ticket", process_id="ticket", owner_role="Service Desk",
                    iso20000={"2011": ["8.1"], "2018": ["8.6.1"]},
                    requirements=tuple(requirements))


def _req(rid: str, *elements: str, clauses: dict[str, str] | None = None) -> Requirement:
    return Requirement(rid, f"{rid} is done", dict(clauses or CLAUSES), tuple(elements))


def test_a_requirement_is_met_by_a_listed_element_id() -> None:
    result = check_conformance(_manifest(_req("ticket.record", "Task_gone", "Task_record")),
                               {"ticket.bpmn": BPMN.encode()})
    assert result.ok and result.gaps == ()
    [coverage] = result.coverage
    assert coverage.met and coverage.elements == ("Task_record",)


def test_a_requirement_is_met_by_an_element_claiming_it_with_the_property() -> None:
    result = check_conformance(_manifest(_req("ticket.escalate")),
                               {"ticket.bpmn": BPMN.encode()})
    assert result.ok
    assert result.coverage[0].elements == ("Task_review",)


def test_listed_ids_and_property_claims_are_combined_without_repeats() -> None:
    result = check_conformance(_manifest(_req("ticket.escalate", "Task_review", "End_ticket")),
                               {"ticket.bpmn": BPMN.encode()})
    assert result.coverage[0].elements == ("Task_review", "End_ticket")


def test_a_gap_when_the_key_element_is_removed_names_requirement_clause_and_element() -> None:
    manifest = _manifest(_req("ticket.record", "Task_record"))
    removed = BPMN.replace('<bpmn:userTask id="Task_record" name="Record"/>', "")
    result = check_conformance(manifest, {"ticket.bpmn": removed.encode()})
    assert not result.ok
    [gap] = result.gaps
    assert gap.requirement == "ticket.record"
    assert gap.clauses == CLAUSES
    assert gap.elements == ("Task_record",)
    assert gap.message == (
        "requirement ticket.record (ISO/IEC 20000-1:2018 8.6.1, ISO/IEC 20000-1:2011 8.1) "
        "is no longer met: Task_record is not in the diagram")
    assert not result.coverage[0].met


def test_several_gaps_are_all_listed_in_manifest_order() -> None:
    manifest = _manifest(
        _req("ticket.inform", "Task_inform"),  # only a leftover BPMNDI shape: does not count
        _req("ticket.record", "Task_record"),
        _req("ticket.escalate.hierarchical", "Task_manager", "Timer_due",
             clauses={"2018": "8.6.1"}),
        _req("ticket.close"),  # nothing listed and nothing claims it
    )
    result = check_conformance(manifest, {"ticket.bpmn": BPMN.encode()})
    assert [g.requirement for g in result.gaps] == [
        "ticket.inform", "ticket.escalate.hierarchical", "ticket.close"]
    messages = [g.message for g in result.gaps]
    assert messages[0].endswith("Task_inform is not in the diagram")
    assert messages[1] == ("requirement ticket.escalate.hierarchical (ISO/IEC 20000-1:2018 "
                           "8.6.1) is no longer met: none of Task_manager, Timer_due is in "
                           "the diagram")
    assert "spiffworkflow:property iso.requirement = ticket.close" in messages[2]


def test_elements_of_any_bpmn_file_of_the_folder_count_and_other_files_are_ignored() -> None:
    other = BPMN.replace("Task_record", "Task_other").replace('id="ticket"', 'id="sub"')
    manifest = _manifest(_req("ticket.sub", "Task_other"))
    files = {"a.bpmn": BPMN.encode(), "b.bpmn": other.encode(), "x.dmn": b"not xml",
             "manifest.json": b"{}"}
    assert check_conformance(manifest, files).ok


def test_claims_of_requirements_the_manifest_does_not_list_are_reported() -> None:
    result = check_conformance(_manifest(), {"ticket.bpmn": BPMN.encode()})
    assert result.unlisted_claims == {"ticket.escalate": ("Task_review",),
                                      "ticket.unlisted": ("Flow_reassign",)}


def test_an_unreadable_diagram_is_named_and_its_requirements_are_gaps() -> None:
    result = check_conformance(_manifest(_req("ticket.record", "Task_record")),
                               {"ticket.bpmn": b"<bpmn:definitions"})
    assert result.unreadable == ("ticket.bpmn",)
    assert [g.requirement for g in result.gaps] == ["ticket.record"]


def test_an_external_entity_is_not_fetched() -> None:
    hostile = BPMN.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    ).replace('name="Record"/>', 'name="Record"><bpmn:documentation>&x;</bpmn:documentation>'
                                 '</bpmn:userTask>')
    result = check_conformance(_manifest(_req("ticket.record", "Task_record")),
                               {"ticket.bpmn": hostile.encode()})
    assert result.ok and result.unreadable == ()


def test_clauses_are_cited_newest_edition_first_and_sorted_numerically() -> None:
    assert format_clauses({"2011": "8.1", "2018": "8.6.1"}) == (
        "ISO/IEC 20000-1:2018 8.6.1, ISO/IEC 20000-1:2011 8.1")
    assert sorted(["8.10", "8.6.1", "10", "8.2.6", "9.4"], key=clause_sort_key) == [
        "8.2.6", "8.6.1", "8.10", "9.4", "10"]


def test_coverage_rows_one_per_edition_sorted_by_clause_with_unclaimed_clauses() -> None:
    ticket = _manifest(_req("ticket.record", "Task_record", clauses={"2018": "8.6.1"}),
                       _req("ticket.close", clauses={"2018": "8.6.1"}))
    change = Manifest(name="Change", process_id="change", owner_role="Service Desk",
                      iso20000={"2018": ["8.5.1"]},
                      requirements=(_req("change.approve", "Task_record",
                                         clauses={"2011": "9.2", "2018": "8.5.1"}),))
    files = {"ticket.bpmn": BPMN.encode()}
    rows = coverage_rows({"ticket": (ticket, check_conformance(ticket, files)),
                          "change": (change, check_conformance(change, files))})
    assert [(r.edition, r.clause, r.process, r.requirement, r.met) for r in rows] == [
        ("2011", "8.1", "ticket", "-", False),
        ("2011", "9.2", "change", "change.approve", True),
        ("2018", "8.5.1", "change", "change.approve", True),
        ("2018", "8.6.1", "ticket", "ticket.record", True),
        ("2018", "8.6.1", "ticket", "ticket.close", False),
    ]


@pytest.mark.parametrize("key", ["incident", "major_incident"])
def test_the_shipped_models_meet_every_requirement_they_claim(key: str) -> None:
    folder = LIBRARY / key
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    manifest, problems = check_manifest(files, {"Incident Manager"})
    assert manifest is not None, problems
    result = check_conformance(manifest, files)
    assert result.coverage and result.ok, [g.message for g in result.gaps]
    assert result.unlisted_claims == {}
    assert all(r.clauses == CLAUSES for r in manifest.requirements)
