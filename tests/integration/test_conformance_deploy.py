"""Deploying a diagram that no longer meets an ISO 20000 requirement its manifest claims.

A process owner who deletes the incident manager's review of escalated incidents is told which
requirement and clause the edit breaks, and the deploy stores nothing, unless the owner accepts
the gap: then the version is deployed with the gap recorded on it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.cli import main
from engine.conformance import check_conformance
from engine.deploy import read_folder
from engine.errors import ConformanceGaps
from engine.manifest import check_manifest
from engine.orchestrator import Orchestrator, process_folders
from storage.models import AuditEvent, ProcessVersion
from tests.integration.conftest import LIBRARY, OWNER, start_incident
from tests.support.bpmn_edits import remove_elements, rename_element

REVIEW = "Activity_review_escalation"
# The review task, the flows into and out of it, and the end event after it.
REVIEW_AND_FLOWS = {REVIEW, "Flow_escalate", "Flow_escalation_reviewed",
                    "Event_escalation_handled"}
ISO_2018 = "ISO/IEC 20000-1:2018 8.6.1"


def _library_copy(tmp_path: Path) -> Path:
    """incident and major_incident (which it calls) with roles.json, under ``tmp_path/lib``."""
    base = tmp_path / "lib"
    for name in ("incident", "major_incident"):
        shutil.copytree(LIBRARY / name, base / name)
    shutil.copy(LIBRARY / "roles.json", base / "roles.json")
    return base


def _remove_review(folder: Path) -> None:
    """Delete the escalation review task with its flows, shapes and references."""
    path = folder / "incident.bpmn"
    path.write_bytes(remove_elements(path.read_bytes(), REVIEW_AND_FLOWS))
    assert REVIEW not in path.read_text()


def _rename_review(folder: Path) -> None:
    """Give the review task another id (every reference follows, so the diagram stays valid)."""
    path = folder / "incident.bpmn"
    path.write_bytes(rename_element(path.read_bytes(), REVIEW, "Activity_manager_looks_at_it"))


EDITS = {"review_deleted": _remove_review, "review_renamed": _rename_review}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_gap_refuses_the_deploy_naming_requirement_and_clause(
    orchestrator: Orchestrator, tmp_path: Path, edit: str
) -> None:
    folder = _library_copy(tmp_path) / "incident"
    EDITS[edit](folder)

    with pytest.raises(ConformanceGaps) as refused:
        orchestrator.deploy("incident", read_folder(folder), OWNER)

    assert refused.value.code == "conformance_gaps"
    [gap] = refused.value.gaps
    assert gap.requirement == "incident.escalate.hierarchical"
    assert gap.clauses == {"2011": "8.1", "2018": "8.6.1"}
    assert ISO_2018 in gap.message and "ISO/IEC 20000-1:2011 8.1" in gap.message
    assert f"{REVIEW} is not in the diagram" in gap.message
    assert [v.number for v in orchestrator.versions("incident")] == [1]

    [result] = orchestrator.deploy_paths([folder], OWNER)
    assert result.outcome is None and result.problems == []
    assert [g.requirement for g in result.gaps] == ["incident.escalate.hierarchical"]


def test_an_accepted_gap_deploys_a_new_version_that_records_it(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    folder = _library_copy(tmp_path) / "incident"
    _remove_review(folder)

    outcome = orchestrator.deploy("incident", read_folder(folder), OWNER, accept_gaps=True)

    assert (outcome.created, outcome.version) == (True, 2)
    assert [g.requirement for g in outcome.accepted_gaps] == ["incident.escalate.hierarchical"]
    latest, first = orchestrator.versions("incident")
    assert first.accepted_gaps == []
    [stored] = latest.accepted_gaps
    assert stored["requirement"] == "incident.escalate.hierarchical"
    assert stored["clauses"] == {"2011": "8.1", "2018": "8.6.1"}
    assert stored["elements"] == [REVIEW]
    assert ISO_2018 in stored["message"]
    with orchestrator.db.read() as session:
        rows = session.scalars(select(ProcessVersion.accepted_gaps)
                               .order_by(ProcessVersion.id)).all()
        deployed = session.scalars(select(AuditEvent.details)
                                   .where(AuditEvent.kind == "process_deployed")
                                   .order_by(AuditEvent.id.desc())).first()
    assert rows[:2] == [None, None] and rows[-1] == latest.accepted_gaps
    assert deployed is not None and deployed["accepted_gaps"] == ["incident.escalate.hierarchical"]

    # The same content again is a no-op that still says which gaps the version carries.
    again = orchestrator.deploy("incident", read_folder(folder), OWNER)
    assert (again.created, again.version) == (False, 2)
    assert [g.requirement for g in again.accepted_gaps] == ["incident.escalate.hierarchical"]
    # And the version runs: new incidents start on it.
    assert start_incident(orchestrator).status == "running"


def test_the_shipped_library_has_no_gaps(orchestrator: Orchestrator) -> None:
    roles = {r["name"] for r in json.loads((LIBRARY / "roles.json").read_text())["roles"]}
    for folder in process_folders(LIBRARY):
        files = read_folder(folder)
        manifest, problems = check_manifest(files, roles)
        assert manifest is not None, (folder.name, problems)
        result = check_conformance(manifest, files)
        assert result.ok, [g.message for g in result.gaps]
        assert result.unlisted_claims == {}, folder.name
    for key in ("incident", "major_incident"):
        assert [v.accepted_gaps for v in orchestrator.versions(key)] == [[]]


# --------------------------------------------------------------------------- the itsm command


def _itsm(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_check_report_lists_the_clauses_with_the_incident_elements() -> None:
    result = _itsm("check", "--report")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["edition", "clause", "process", "requirement", "elements"]
    table = lines[1:lines.index("")]  # a blank line ends the table, a summary follows
    rows = [line.split(None, 4) for line in table]
    assert rows and all(len(r) == 5 for r in rows)
    incident_2018 = {r[3]: r[4] for r in rows if r[:3] == ["2018", "8.6.1", "incident"]}
    assert incident_2018["incident.escalate.hierarchical"] == REVIEW
    assert incident_2018["incident.prioritise"] == "Activity_priority"
    assert incident_2018["incident.major"] == "Activity_major_incident"
    major = {r[3] for r in rows if r[:3] == ["2011", "8.1", "major_incident"]}
    assert major == {"major_incident.owner", "major_incident.management_informed",
                     "major_incident.review"}
    editions = [r[0] for r in rows]
    assert editions == sorted(editions)  # rows go edition by edition, clause by clause
    assert "0 gap(s)" in result.output

    as_json = json.loads(_itsm("check", "--report", "--json").output)
    assert as_json["gaps"] == [] and as_json["skipped"] == []
    assert {"edition": "2018", "clause": "8.6.1", "process": "incident",
            "requirement": "incident.inform", "elements": ["Activity_inform_caller"],
            "met": True}.items() <= next(
        r for r in as_json["rows"]
        if (r["edition"], r["requirement"]) == ("2018", "incident.inform")).items()


def test_check_and_report_exit_1_naming_the_clause_of_a_gap(tmp_path: Path) -> None:
    library = _library_copy(tmp_path)
    _remove_review(library / "incident")

    checked = _itsm("check", str(library))
    assert checked.exit_code == 1
    assert "GAPS incident (8/9 ISO requirements met)" in checked.output
    assert "ok major_incident (3/3 ISO requirements met)" in checked.output
    assert f"gap: requirement incident.escalate.hierarchical ({ISO_2018}" in checked.output

    report = _itsm("check", "--report", str(library))
    assert report.exit_code == 1
    assert "1 gap(s)" in report.output
    gap_rows = [line for line in report.output.splitlines() if "GAP: no element" in line]
    assert [line.split()[:4] for line in gap_rows] == [
        ["2011", "8.1", "incident", "incident.escalate.hierarchical"],
        ["2018", "8.6.1", "incident", "incident.escalate.hierarchical"]]
    as_json = json.loads(_itsm("check", "--report", "--json", str(library)).output)
    assert [(g["process"], g["requirement"], g["clauses"]["2018"]) for g in as_json["gaps"]] == [
        ("incident", "incident.escalate.hierarchical", "8.6.1")]


def test_deploy_refuses_a_gap_unless_accepted(database_url: str, tmp_path: Path) -> None:
    env = {"ITSM_DATABASE_URL": database_url, "ITSM_INSTANCE_DIR": str(tmp_path)}
    library = _library_copy(tmp_path)
    _remove_review(library / "incident")
    assert _itsm("db", "upgrade", env=env).exit_code == 0

    refused = _itsm("deploy", str(library), env=env)
    assert refused.exit_code == 1
    assert "deployed major_incident version 1" in refused.output
    assert "REJECTED incident: 1 conformance gap(s) (deploy with --accept-gaps" in refused.output
    assert ISO_2018 in refused.output

    accepted = _itsm("deploy", "--accept-gaps", str(library), env=env)
    assert accepted.exit_code == 0, accepted.output
    assert "deployed incident version 1 with 1 accepted conformance gap(s)" in accepted.output
    assert "accepted: requirement incident.escalate.hierarchical" in accepted.output
