"""The whole chain, end to end: incident -> problem -> change -> release -> configuration.

Each hand-over is a message the sender's diagram throws; the engine starts the receiving
process and records the link on both instances (what the API shows as related instances).
"""

from __future__ import annotations

from datetime import timedelta

from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from tests.integration import test_change_process as change
from tests.integration import test_problem_process as problem
from tests.integration import test_release_process as release
from tests.integration.conftest import find_task
from tests.integration.process_driver import linked, view


def _single(orchestrator: Orchestrator, instance_id: int, via: str) -> int:
    [target] = linked(view(orchestrator, instance_id), via, "outgoing")
    assert linked(view(orchestrator, target), via, "incoming") == [instance_id]
    return target


def test_incident_to_configuration_update(orchestrator: Orchestrator,
                                          clock: ManualClock) -> None:
    incident_id, incident_key = problem._resolve_incident(orchestrator, True)
    problem_id = _single(orchestrator, incident_id, "problem_raise")
    for title in ("Record and classify problem", "Root-cause analysis", "Record workaround",
                  "Record known error"):
        problem.do(orchestrator, title, problem_id)
    change_id = _single(orchestrator, problem_id, "change_request")

    change.do(orchestrator, change.CLASSIFY, change_id, change_type="normal",
              needs_release=True, release_version="2.4.1")
    change.do(orchestrator, change.ASSESS, change_id)
    change.cab_votes(orchestrator, change_id, ["approve", "approve", "approve"])
    change._after_approval(orchestrator, change_id)
    release_id = _single(orchestrator, change_id, "release_request")

    release.plan_build_test(orchestrator, release_id)
    release.complete(orchestrator, release_id, "Approve deployment")
    release.complete(orchestrator, release_id, "Deploy release")
    clock.advance(timedelta(days=7, minutes=1))  # early-life support runs out
    orchestrator.fire_due_timers()
    release.complete(orchestrator, release_id, "Early-life support review")
    configuration_id = _single(orchestrator, release_id, "configuration_update")

    keys = [view(orchestrator, i).business_key
            for i in (incident_id, problem_id, change_id, release_id, configuration_id)]
    assert [k.split("-")[0] for k in keys] == ["INC", "PRB", "CHG", "REL", "CFG"]
    assert view(orchestrator, problem_id).data["source_key"] == incident_key
    update = view(orchestrator, configuration_id).data["update"]
    assert update["source_key"] == keys[3] and update["version"]
    task = find_task(orchestrator, release.CONFIGURATION_MANAGER, "Verify CI update",
                     configuration_id)
    orchestrator.complete_task(task.id, {"ci": update["ci"], "new_version": update["version"],
                                         "verified": True}, release.CONFIGURATION_MANAGER)
    assert view(orchestrator, configuration_id).status == "completed"
