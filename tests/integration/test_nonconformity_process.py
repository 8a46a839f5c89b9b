"""Nonconformity and corrective action (bpmn/nonconformity) along every path of the diagram.

Corrective action that is not effective goes back to the root cause analysis; after three
ineffective attempts the nonconformity is referred to management review (the loop is bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.clock import ManualClock
from engine.errors import NotAllowed
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications
from tests.support.case_processes import (
    NONCONFORMITY,
    PROCESS_OWNER,
    QUALITY_MANAGER,
    complete,
    completed_titles,
    open_titles,
    start,
    task_data,
    view,
)

P = NONCONFORMITY
RECORD, CORRECT, ROOT_CAUSE = "Record nonconformity", "React and correct", "Analyse root cause"
PLAN, IMPLEMENT, VERIFY = ("Plan corrective action", "Implement corrective action",
                           "Verify effectiveness")
ROUND = [ROOT_CAUSE, PLAN, IMPLEMENT, VERIFY]
NOT_EFFECTIVE = {"effective": False,
                 "verification_evidence": "2 of 20 sampled P2 incidents were again not "
                                          "escalated."}


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "nonconformity")


def record_and_correct(orchestrator: Orchestrator, **changes: object) -> tuple[int, str]:
    iid, key = start(orchestrator, P)
    complete(orchestrator, P, iid, RECORD, **changes)
    assert find_task(orchestrator, PROCESS_OWNER, CORRECT, iid).lane == "Process Owner"
    complete(orchestrator, P, iid, CORRECT)
    return iid, key


def corrective_round(orchestrator: Orchestrator, iid: int, effective: bool) -> None:
    for title in (ROOT_CAUSE, PLAN, IMPLEMENT):
        complete(orchestrator, P, iid, title)
    complete(orchestrator, P, iid, VERIFY, **({} if effective else NOT_EFFECTIVE))


@dataclass
class Expected:
    instance_id: int
    business_key: str
    source: str
    status: str
    rounds: int


def path_effective_first_time(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = record_and_correct(orchestrator)
    corrective_round(orchestrator, iid, effective=True)
    return Expected(iid, key, "audit", "Closed", 1)


def path_not_effective_once(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid, key = record_and_correct(orchestrator, source="complaint",
                                  source_reference="CMP-000012")
    corrective_round(orchestrator, iid, effective=False)
    current = view(orchestrator, iid)
    assert [(t.title, t.lane) for t in current.open_tasks] == [(ROOT_CAUSE, "Process Owner")]
    assert current.data["verification_round"] == 1
    corrective_round(orchestrator, iid, effective=True)
    return Expected(iid, key, "complaint", "Closed", 2)


def path_referred_after_three_attempts(
    orchestrator: Orchestrator, clock: ManualClock
) -> Expected:
    iid, key = record_and_correct(orchestrator, source="incident",
                                  source_reference="INC-000321")
    for attempt in (1, 2, 3):
        corrective_round(orchestrator, iid, effective=False)
        if attempt < 3:
            assert open_titles(orchestrator, iid) == [ROOT_CAUSE]
    return Expected(iid, key, "incident", "Referred to management review", 3)


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "effective_first_time": path_effective_first_time,
    "not_effective_once": path_not_effective_once,
    "referred_after_three_attempts": path_referred_after_three_attempts,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_nonconformity_path_ends(
    orchestrator: Orchestrator, clock: ManualClock, path: str
) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid, key = expected.instance_id, expected.business_key

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": task_data(P, RECORD)["summary"], "priority": "major",
                              "service": "Incident management", "assignee_group": None,
                              "status": expected.status}
    assert current.data["nonconformity_number"] == key
    assert current.data["source"] == expected.source
    assert current.data["verification_round"] == expected.rounds
    assert current.data["effective"] is (expected.status == "Closed")
    assert completed_titles(orchestrator, iid) == [RECORD, CORRECT, *ROUND * expected.rounds]
    outbox = notifications(orchestrator, iid)
    if expected.status == "Closed":
        assert outbox == []
    else:
        [referral] = outbox
        assert (referral.recipient, referral.recipient_role) == (None, "Quality Manager")
        assert referral.subject == f"Nonconformity {key} referred to management review"
        assert "after 3 attempts" in referral.body


def test_effectiveness_is_verified_by_the_quality_manager(orchestrator: Orchestrator) -> None:
    iid, _ = record_and_correct(orchestrator)
    for title in (ROOT_CAUSE, PLAN, IMPLEMENT):
        complete(orchestrator, P, iid, title)
    task = find_task(orchestrator, QUALITY_MANAGER, VERIFY, iid)
    assert task.lane == "Quality Manager"
    with pytest.raises(NotAllowed):  # the process owner does not verify their own action
        orchestrator.complete_task(task.id, task_data(P, VERIFY), PROCESS_OWNER)
