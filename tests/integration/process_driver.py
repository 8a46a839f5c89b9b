"""Shared helpers for the process-library tests (problem, change and their links).

``library_orchestrator`` opens one orchestrator per test module and database (the whole
``bpmn/`` library deployed once, as the ``orchestrator`` fixture does per test): deploying
the library costs 1-2 s, which per test would make these path tables slow. Tests sharing it
must not depend on each other: each starts its own instances and finds tasks by instance id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from engine.access import SYSTEM, Actor
from engine.orchestrator import Orchestrator
from engine.queries import InboxFilter, InstanceView, TaskView
from engine.runtime import InstanceOutcome
from tests.integration.conftest import _open
from tests.support.pg_cluster import create_database_at, drop_database_at

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

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def library_orchestrator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Orchestrator]:
    """Body of a module-scoped fixture parametrized with ``DATABASES``."""
    if request.param == "sqlite":
        orchestrator = _open(f"sqlite:///{tmp_path_factory.mktemp('library')}/itsm.db")
        yield orchestrator
        orchestrator.db.dispose()
        return
    server_url: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex}"
    orchestrator = _open(create_database_at(server_url, name))
    try:
        yield orchestrator
    finally:
        orchestrator.db.dispose()
        drop_database_at(server_url, name)


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
