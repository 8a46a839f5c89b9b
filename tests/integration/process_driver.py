"""Shared helpers for the process-library tests (problem, change and their links).

The path tables use the module-scoped ``library`` fixture of ``conftest.py``.
"""

from __future__ import annotations

from typing import Any

from engine.access import SYSTEM, Actor
from engine.orchestrator import Orchestrator
from engine.queries import InboxFilter, InstanceView, TaskView
from engine.runtime import InstanceOutcome

ADMIN = Actor("ann", frozenset({"Admin"}))
PROBLEM_MANAGER = Actor("petra", frozenset({"Problem Manager"}))
CHANGE_MANAGER = Actor("carlos", frozenset({"Change Manager"}))
CAB_MEMBERS = (
    Actor("ada", frozenset({"Change Advisory Board"})),
    Actor("ben", frozenset({"Change Advisory Board"})),
    Actor("cem", frozenset({"Change Advisory Board"})),
)
ECAB = Actor("erin", frozenset({"Emergency CAB"}))
IMPLEMENTER = Actor("imke", frozenset({"Change Implementer"}))



def tasks_of(
    orchestrator: Orchestrator, actor: Actor, instance_id: int, title: str | None = None
) -> list[TaskView]:
    """The actor's inbox tasks of one instance (with ``title`` if given)."""
    return [
        t for t in orchestrator.inbox(actor, InboxFilter(limit=1000))
        if t.instance_id == instance_id and (title is None or t.title == title)
    ]


def complete(
    orchestrator: Orchestrator, actor: Actor, title: str, instance_id: int,
    data: dict[str, Any],
) -> InstanceOutcome:
    """Complete the actor's single task ``title`` of the instance with ``data``."""
    found = tasks_of(orchestrator, actor, instance_id, title)
    titles = [t.title for t in tasks_of(orchestrator, actor, instance_id)]
    assert len(found) == 1, f"{actor.name} should have one {title!r} task; has {titles}"
    return orchestrator.complete_task(found[0].id, data, actor)


def view(orchestrator: Orchestrator, instance_id: int) -> InstanceView:
    return orchestrator.instance(instance_id, ADMIN)


def open_titles(orchestrator: Orchestrator, instance_id: int) -> list[str]:
    return sorted(t.title for t in view(orchestrator, instance_id).open_tasks)


def linked(instance: InstanceView, via: str, direction: str) -> list[int]:
    """Ids of the instances linked to ``instance`` by the message ``via``."""
    return [link["instance_id"] for link in instance.related
            if link["via"] == via and link["direction"] == direction]


def routed_events(orchestrator: Orchestrator, instance_id: int) -> list[tuple[str, str, list[int]]]:
    """(kind, event name, targets) of the events the instance threw, in order."""
    return [
        (e.kind, e.details["event"], list(e.details.get("targets", [])))
        for e in orchestrator.events(instance_id, SYSTEM)
        if e.kind in ("event_routed", "event_not_routed")
    ]
