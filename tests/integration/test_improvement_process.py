"""Continual improvement (bpmn/improvement) along every path of the diagram.

Each proposal is recorded in the register, evaluated (benefit and cost give its priority by
the decision improvement_priority), approved or rejected, implemented and measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from engine.clock import ManualClock
from engine.orchestrator import Orchestrator
from tests.integration.conftest import deploy_models, find_task, notifications
from tests.support.case_processes import (
    IMPROVEMENT,
    PROCESS_OWNER,
    PROPOSER_MAIL,
    complete,
    completed_titles,
    dmn_rule_count,
    open_titles,
    start,
    task_data,
    view,
)

P = IMPROVEMENT
RECORD, EVALUATE, APPROVE = "Record improvement", "Evaluate proposal", "Approve improvement"
IMPLEMENT, MEASURE = "Implement improvement", "Measure result"


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    """Only this model (the whole library is deployed by other tests)."""
    return deploy_models(make_orchestrator(deploy=False), "improvement")


def evaluate(orchestrator: Orchestrator, benefit: str = "high", cost: str = "low") -> int:
    iid, _ = start(orchestrator, P)
    complete(orchestrator, P, iid, RECORD)
    assert find_task(orchestrator, PROCESS_OWNER, EVALUATE, iid).lane == "Process Owner"
    complete(orchestrator, P, iid, EVALUATE, benefit=benefit, cost=cost)
    return iid


@dataclass
class Expected:
    instance_id: int
    status: str
    priority: int
    tasks: list[str]
    rejected: bool


def path_approved(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid = evaluate(orchestrator)
    complete(orchestrator, P, iid, APPROVE)
    current = view(orchestrator, iid)
    assert current.record["status"] == "In implementation"
    assert [(t.title, t.lane) for t in current.open_tasks] == [(IMPLEMENT, "Process Owner")]
    complete(orchestrator, P, iid, IMPLEMENT)
    assert open_titles(orchestrator, iid) == [MEASURE]
    complete(orchestrator, P, iid, MEASURE)
    return Expected(iid, "Closed", 1, [RECORD, EVALUATE, APPROVE, IMPLEMENT, MEASURE], False)


def path_rejected(orchestrator: Orchestrator, clock: ManualClock) -> Expected:
    iid = evaluate(orchestrator, benefit="low", cost="high")
    complete(orchestrator, P, iid, APPROVE, improvement_decision="rejected", target_date=None,
             decision_reason="The cost outweighs the benefit; revisit with the tool upgrade.")
    return Expected(iid, "Rejected", 5, [RECORD, EVALUATE, APPROVE], True)


PATHS: dict[str, Callable[[Orchestrator, ManualClock], Expected]] = {
    "approved_implemented_measured": path_approved,
    "rejected": path_rejected,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_improvement_path_ends(orchestrator: Orchestrator, clock: ManualClock, path: str) -> None:
    expected = PATHS[path](orchestrator, clock)
    iid = expected.instance_id

    current = view(orchestrator, iid)
    assert (current.status, current.error, current.open_tasks) == ("completed", None, [])
    assert current.record == {"title": task_data(P, RECORD)["summary"],
                              "priority": str(expected.priority),
                              "service": "Incident management", "assignee_group": None,
                              "status": expected.status}
    assert current.data["improvement_number"] == current.business_key
    assert current.data["closed_at"] is not None
    assert completed_titles(orchestrator, iid) == expected.tasks
    outbox = notifications(orchestrator, iid)
    if expected.rejected:
        [note] = outbox
        assert (note.recipient, note.subject) == (
            PROPOSER_MAIL, f"Improvement {current.business_key} not approved")
        assert note.body == current.data["decision_reason"]
    else:
        assert outbox == []
        assert current.data["benefit_realised"] == "partly"


# --------------------------------------------------------------------------- decision table

IMPROVEMENT_PRIORITY = {
    # (benefit, cost): (priority, recommendation)
    ("high", "low"): (1, "implement now"),
    ("high", "medium"): (2, "implement now"),
    ("high", "high"): (3, "plan"),
    ("medium", "low"): (2, "implement now"),
    ("medium", "medium"): (3, "plan"),
    ("medium", "high"): (4, "defer"),
    ("low", "low"): (3, "plan"),
    ("low", "medium"): (4, "defer"),
    ("low", "high"): (5, "reconsider"),
}


def test_improvement_priority_table_row_by_row(orchestrator: Orchestrator) -> None:
    assert dmn_rule_count("improvement", "improvement_priority.dmn") == len(IMPROVEMENT_PRIORITY)
    for (benefit, cost), (priority, recommendation) in IMPROVEMENT_PRIORITY.items():
        iid = evaluate(orchestrator, benefit, cost)
        data = view(orchestrator, iid).data
        assert (data["priority"], data["recommendation"]) == (priority, recommendation), (
            benefit, cost)
        assert open_titles(orchestrator, iid) == [APPROVE]
