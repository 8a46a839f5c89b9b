"""Configuration management (bpmn/configuration) and configuration audits
(bpmn/configuration_audit), along every path the diagrams offer.

A configuration update starts with the message ``configuration_update`` (thrown by a stable
release; the release side is tested in test_release_process.py). An audit is started by
hand or by a schedule (a none start event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.access import SYSTEM, Actor
from engine.errors import FormInvalid
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications, snapshot

CONFIGURATION_MANAGER = Actor("carl", frozenset({"Configuration Manager"}))
RELEASE_MANAGER = Actor("rhea", frozenset({"Release Manager"}))

UPDATE = {
    "source_key": "REL-000007",
    "ci": "SRV-0042",
    "version": "2.4.0",
    "release": "Mail gateway 2.4",
    "change": "CHG-000042",
}
VERIFY = {"ci": "SRV-0042", "new_version": "2.4.0", "verified": True,
          "notes": "Checked the package version on both nodes."}



@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only the models these tests run (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "configuration", "configuration_audit")

def send_update(orchestrator: Orchestrator, **overrides: Any) -> int:
    """Send configuration_update as a release does; the started instance's id."""
    outcome = orchestrator.deliver_message(
        "configuration_update", {}, {**UPDATE, **overrides}, RELEASE_MANAGER
    )
    assert outcome.received_by == []
    assert outcome.started is not None
    return outcome.started


def complete(
    orchestrator: Orchestrator, iid: int, title: str, data: dict[str, Any]
) -> None:
    task = find_task(orchestrator, CONFIGURATION_MANAGER, title, iid)
    assert task.lane == "Configuration Manager"
    orchestrator.complete_task(task.id, data, CONFIGURATION_MANAGER)


# --------------------------------------------------------------------------- CI updates


@dataclass
class UpdateExpected:
    instance_id: int
    cmdb_status: str
    baseline: dict[str, Any] | None
    # (recipient_role, subject) of every outbox row
    outbox: list[tuple[str | None, str]] = field(default_factory=list)


def update_verified(orchestrator: Orchestrator) -> UpdateExpected:
    iid = send_update(orchestrator)
    complete(orchestrator, iid, "Verify CI update", VERIFY)
    return UpdateExpected(iid, "updated", {"ci": "SRV-0042", "version": "2.4.0",
                                           "release": "REL-000007",
                                           "release_name": "Mail gateway 2.4",
                                           "change": "CHG-000042"})


def update_corrected_then_verified(orchestrator: Orchestrator) -> UpdateExpected:
    """The release named the version loosely; the verifier records what actually runs."""
    iid = send_update(orchestrator, version="2.4")
    complete(orchestrator, iid, "Verify CI update", {**VERIFY, "new_version": "2.4.0-build17"})
    return UpdateExpected(iid, "updated", {"ci": "SRV-0042", "version": "2.4.0-build17",
                                           "release": "REL-000007",
                                           "release_name": "Mail gateway 2.4",
                                           "change": "CHG-000042"})


def update_not_verified(orchestrator: Orchestrator) -> UpdateExpected:
    """What runs does not match: nothing is recorded and change management is told."""
    iid = send_update(orchestrator)
    found = "Node 2 still runs 2.3.9; node 1 runs 2.4.0."
    complete(orchestrator, iid, "Verify CI update", {**VERIFY, "verified": False, "notes": found})
    key = orchestrator.instance(iid, CONFIGURATION_MANAGER).business_key
    return UpdateExpected(iid, "rejected", None,
                          [("Change Manager", f"Configuration update {key} not verified: "
                                              "SRV-0042")])


UPDATE_PATHS: dict[str, Callable[[Orchestrator], UpdateExpected]] = {
    "verified": update_verified,
    "corrected_then_verified": update_corrected_then_verified,
    "not_verified": update_not_verified,
}


@pytest.mark.parametrize("path", list(UPDATE_PATHS))
def test_configuration_update_path(orchestrator: Orchestrator, path: str) -> None:
    expected = UPDATE_PATHS[path](orchestrator)

    view = orchestrator.instance(expected.instance_id, CONFIGURATION_MANAGER)
    assert (view.status, view.error, view.open_tasks) == ("completed", None, [])
    assert view.process_key == "configuration"
    assert view.record["status"] == expected.cmdb_status
    assert view.data["cmdb_status"] == expected.cmdb_status
    assert view.data["source_key"] == "REL-000007"
    assert view.data["change_key"] == "CHG-000042"
    if expected.baseline is None:
        assert "baseline" not in view.data
    else:
        baseline = dict(view.data["baseline"])
        assert baseline.pop("recorded_at").startswith("2")  # an ISO timestamp
        assert baseline == expected.baseline
    outbox = notifications(orchestrator, expected.instance_id)
    assert [(n.recipient_role, n.subject) for n in outbox] == expected.outbox
    if outbox:
        assert "Node 2 still runs 2.3.9" in outbox[0].body
        assert "CHG-000042" in outbox[0].body


def test_configuration_update_message_starts_one_instance_each(
    orchestrator: Orchestrator,
) -> None:
    first = send_update(orchestrator)
    second = send_update(orchestrator, ci="DB-0007", version="15.4")

    one = orchestrator.instance(first, CONFIGURATION_MANAGER)
    two = orchestrator.instance(second, CONFIGURATION_MANAGER)
    assert (one.business_key, two.business_key) == ("CFG-000001", "CFG-000002")
    assert one.record["title"] == "Update of SRV-0042 to version 2.4.0"
    assert two.record["title"] == "Update of DB-0007 to version 15.4"
    assert one.record["status"] == "pending verification"
    assert one.data["update"] == UPDATE
    assert one.related == []  # sent from outside, not by a release instance
    assert [t.title for t in two.open_tasks] == ["Verify CI update"]


# --------------------------------------------------------------------------- audits

PLAN_AUDIT = {"scope": "All mail servers in data centre 1", "baseline": "CMDB snapshot 2030-01",
              "planned_date": "2030-01-10"}
NO_FINDINGS = {"cis_checked": 14, "findings": [], "audit_notes": "All 14 records match."}
FINDINGS = {
    "cis_checked": 14,
    "findings": [
        {"ci": "SRV-0042", "discrepancy": "Recorded version 2.3.9, live 2.4.0"},
        {"ci": "rack B4 slot 7", "discrepancy": "Unrecorded server found"},
    ],
}
ACTIONS = {"corrective_actions": [
    {"ci": "SRV-0042", "action": "Correct the recorded version", "via_change": False},
    {"ci": "rack B4 slot 7", "action": "Decommission the unrecorded server",
     "via_change": True},
]}


def start_audit(orchestrator: Orchestrator) -> int:
    started = orchestrator.start_instance("configuration_audit", {}, CONFIGURATION_MANAGER)
    view = orchestrator.instance(started.instance_id, CONFIGURATION_MANAGER)
    assert view.record["title"] == f"Configuration audit {started.business_key}"
    assert view.record["status"] == "Planning"
    return started.instance_id


@dataclass
class AuditExpected:
    instance_id: int
    discrepancies: int
    corrective_actions: list[dict[str, Any]]
    completed_tasks: int


def audit_no_discrepancies(orchestrator: Orchestrator) -> AuditExpected:
    iid = start_audit(orchestrator)
    complete(orchestrator, iid, "Plan configuration audit", PLAN_AUDIT)
    complete(orchestrator, iid, "Perform configuration audit", NO_FINDINGS)
    return AuditExpected(iid, 0, [], 2)


def audit_discrepancies_found(orchestrator: Orchestrator) -> AuditExpected:
    iid = start_audit(orchestrator)
    complete(orchestrator, iid, "Plan configuration audit", PLAN_AUDIT)
    complete(orchestrator, iid, "Perform configuration audit", FINDINGS)
    view = orchestrator.instance(iid, CONFIGURATION_MANAGER)
    assert view.record["status"] == "Corrective action"
    assert [t.title for t in view.open_tasks] == ["Raise corrective actions"]
    complete(orchestrator, iid, "Raise corrective actions", ACTIONS)
    return AuditExpected(iid, 2, ACTIONS["corrective_actions"], 3)


AUDIT_PATHS: dict[str, Callable[[Orchestrator], AuditExpected]] = {
    "no_discrepancies": audit_no_discrepancies,
    "discrepancies_found": audit_discrepancies_found,
}


@pytest.mark.parametrize("path", list(AUDIT_PATHS))
def test_configuration_audit_path_ends_with_a_report(
    orchestrator: Orchestrator, path: str
) -> None:
    expected = AUDIT_PATHS[path](orchestrator)

    view = orchestrator.instance(expected.instance_id, CONFIGURATION_MANAGER)
    assert (view.status, view.error, view.open_tasks) == ("completed", None, [])
    assert view.business_key.startswith("CAU-")
    assert view.record["status"] == "Completed"
    report = dict(view.data["audit_report"])
    assert report.pop("completed_at").startswith("2")
    assert report == {
        "audit": view.business_key,
        "scope": PLAN_AUDIT["scope"],
        "cis_checked": 14,
        "discrepancies": expected.discrepancies,
        "findings": FINDINGS["findings"] if expected.discrepancies else [],
        "corrective_actions": expected.corrective_actions,
    }
    kinds = [e.kind for e in orchestrator.events(expected.instance_id, SYSTEM)]
    assert kinds.count("task_completed") == expected.completed_tasks
    assert notifications(orchestrator, expected.instance_id) == []


# --------------------------------------------------------------------------- forms


def _at_verify(orchestrator: Orchestrator) -> int:
    return send_update(orchestrator)


def _at_plan_audit(orchestrator: Orchestrator) -> int:
    return start_audit(orchestrator)


def _at_perform_audit(orchestrator: Orchestrator) -> int:
    iid = start_audit(orchestrator)
    complete(orchestrator, iid, "Plan configuration audit", PLAN_AUDIT)
    return iid


def _at_corrective_actions(orchestrator: Orchestrator) -> int:
    iid = _at_perform_audit(orchestrator)
    complete(orchestrator, iid, "Perform configuration audit", FINDINGS)
    return iid


INVALID: dict[str, tuple[Callable[[Orchestrator], int], dict[str, Any], set[str]]] = {
    "Verify CI update": (
        _at_verify, {**VERIFY, "ci": "", "verified": False, "notes": "no"}, {"/ci", "/notes"},
    ),
    "Plan configuration audit": (
        _at_plan_audit, {"scope": "all", "planned_date": "soon"}, {"/scope", "/planned_date"},
    ),
    "Perform configuration audit": (
        _at_perform_audit, {"cis_checked": 0, "findings": [{"ci": "SRV-0042"}]},
        {"/cis_checked", "/findings/0/discrepancy"},
    ),
    "Raise corrective actions": (
        _at_corrective_actions, {"corrective_actions": [{"ci": "SRV-0042", "action": "Fix"}]},
        {"/corrective_actions/0/via_change"},
    ),
}


@pytest.mark.parametrize("title", list(INVALID))
def test_configuration_form_rejects_invalid_data(orchestrator: Orchestrator, title: str) -> None:
    reach, data, fields = INVALID[title]
    iid = reach(orchestrator)
    task = find_task(orchestrator, CONFIGURATION_MANAGER, title, iid)
    before = snapshot(orchestrator, iid)

    with pytest.raises(FormInvalid) as caught:
        orchestrator.complete_task(task.id, data, CONFIGURATION_MANAGER)

    assert {e.field for e in caught.value.errors} == fields
    assert all(e.message for e in caught.value.errors)
    assert snapshot(orchestrator, iid) == before


def test_verification_refused_without_saying_what_was_found(
    orchestrator: Orchestrator,
) -> None:
    iid = send_update(orchestrator)
    task = find_task(orchestrator, CONFIGURATION_MANAGER, "Verify CI update", iid)
    data = {k: v for k, v in VERIFY.items() if k != "notes"}
    with pytest.raises(FormInvalid) as caught:
        orchestrator.complete_task(task.id, {**data, "verified": False}, CONFIGURATION_MANAGER)
    assert [e.field for e in caught.value.errors] == ["/notes"]
    orchestrator.complete_task(task.id, data, CONFIGURATION_MANAGER)  # verified: notes optional
    assert orchestrator.instance(iid, CONFIGURATION_MANAGER).record["status"] == "updated"
