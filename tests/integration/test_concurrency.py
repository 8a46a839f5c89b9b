"""Two writers at once on one instance: exactly one wins, the other gets a Conflict."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from engine.access import SYSTEM, Actor
from engine.errors import Conflict, NoMatch, StaleInstance, TaskNotReady
from engine.orchestrator import Orchestrator
from tests.integration.conftest import (
    RESOLVER,
    RESOLVER_2,
    SERVICE_DESK,
    audit_kinds,
    complete_current,
    confirm,
    find_task,
    form_data,
    record_incident,
)

ROUNDS = 5


def _race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run the calls in threads released together; ("ok", result) or ("error", exception)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = ("ok", call())
        except Exception as exc:  # collected and asserted on by the test
            results[index] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing call hung"
    return results


def _complete(orchestrator: Orchestrator, task_id: str, actor: Actor, group: str) -> Any:
    data = form_data("Investigate and diagnose", assignment_group=group)
    return orchestrator.complete_task(task_id, data, actor)


def test_same_task_completed_by_two_threads_at_once(orchestrator: Orchestrator) -> None:
    for _ in range(ROUNDS):
        recorded = record_incident(orchestrator)
        iid = recorded.instance_id
        task = find_task(orchestrator, RESOLVER, "Investigate and diagnose", iid)

        results = _race(partial(_complete, orchestrator, task.id, RESOLVER, "Network"),
                        partial(_complete, orchestrator, task.id, RESOLVER_2, "Database"))

        winners = [value for kind, value in results if kind == "ok"]
        losers = [value for kind, value in results if kind == "error"]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], TaskNotReady | StaleInstance), repr(losers[0])
        assert isinstance(losers[0], Conflict)
        completions = [e for e in orchestrator.events(iid, SYSTEM)
                       if e.kind == "task_completed" and e.task_name == "Investigate and diagnose"]
        assert len(completions) == 1
        assert completions[0].details["task_id"] == task.id
        view = orchestrator.instance(iid, SERVICE_DESK)
        assert view.status == "running"
        # the winner's data is what the instance holds, and it moved on exactly once
        assert view.record["assignee_group"] == completions[0].details["data"]["assignment_group"]
        assert [t.title for t in view.open_tasks] == ["Resolve"]


def test_same_confirmation_delivered_by_two_threads_at_once(orchestrator: Orchestrator) -> None:
    for _ in range(ROUNDS):
        recorded = record_incident(orchestrator)
        iid, key = recorded.instance_id, recorded.business_key
        complete_current(orchestrator, RESOLVER, "Investigate and diagnose", instance_id=iid)
        complete_current(orchestrator, RESOLVER, "Resolve", instance_id=iid)

        results = _race(partial(confirm, orchestrator, key), partial(confirm, orchestrator, key))

        winners = [value for kind, value in results if kind == "ok"]
        losers = [value for kind, value in results if kind == "error"]
        assert len(winners) == 1 and len(losers) == 1, results
        assert winners[0].received_by == [iid]
        # the loser either lost the race to save (Conflict) or came after the instance
        # stopped waiting (NoMatch)
        assert isinstance(losers[0], StaleInstance | NoMatch), repr(losers[0])
        kinds = audit_kinds(orchestrator, iid)
        assert kinds.count("message_received") == 1
        assert kinds.count("instance_completed") == 1
        assert orchestrator.instance(iid, SERVICE_DESK).status == "completed"


def test_two_claims_at_once_leave_one_assignee(orchestrator: Orchestrator) -> None:
    for _ in range(ROUNDS):
        recorded = record_incident(orchestrator)
        task = find_task(orchestrator, RESOLVER, "Investigate and diagnose",
                         recorded.instance_id)
        results = _race(partial(orchestrator.claim_task, task.id, RESOLVER),
                        partial(orchestrator.claim_task, task.id, RESOLVER_2))
        assert sorted(kind for kind, _ in results) == ["error", "ok"], results
        [error] = [value for kind, value in results if kind == "error"]
        assert isinstance(error, Conflict)
        trail = orchestrator.events(recorded.instance_id, SYSTEM)
        claimed = [e for e in trail if e.kind == "task_claimed"]
        assert len(claimed) == 1
        assert orchestrator.task(task.id, SYSTEM).assignee == claimed[0].actor
