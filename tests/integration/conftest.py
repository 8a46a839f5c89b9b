"""Fixtures and small drivers for the integration tests (engine + real database).

Fixtures
--------
``orchestrator``
    An :class:`Orchestrator` on a fresh, migrated database (SQLite and PostgreSQL, through
    ``database_url``), with the process library in ``bpmn/`` deployed. Disposed afterwards.
``make_orchestrator``
    A factory for more orchestrators on the same kind of fresh database: a second one on the
    same URL (like a second worker process) or one with other options (``script_time_limit``).
``clock``
    A :class:`ManualClock` installed as the engine clock (restored afterwards), so timers
    become due when the test advances it.

``service_desk``, ``resolver``, ``manager``, ``outsider``
    The actors (also importable: ``SERVICE_DESK``, ``RESOLVER``, ``RESOLVER_2``, ``MANAGER``,
    ``OUTSIDER``, ``OWNER``).

Drivers and factories
---------------------
``complete_current(orchestrator, actor, title, data=None, instance_id=None)`` completes the
actor's inbox task with that title (canonical form data from ``FORM_DATA`` unless given);
``record_incident`` starts an incident and records it; ``confirm`` sends the caller's answer;
``snapshot`` captures what a refused operation must leave unchanged; ``probe_folder`` writes a
one-script process folder.
``deploy_models(make_orchestrator(deploy=False), "release", ...)`` deploys only some
models of the library (a module overrides ``orchestrator`` with it to stay quick).
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from engine.access import SYSTEM, Actor
from engine.clock import ManualClock, current_clock, use_clock
from engine.deploy import register_roles
from engine.orchestrator import Orchestrator, process_folders
from engine.queries import InboxFilter
from engine.runtime import InstanceOutcome
from storage import migrate
from storage.database import Database
from storage.models import (
    AuditEvent,
    HumanTask,
    MessageSubscription,
    Notification,
    ProcessInstance,
    ProcessVersion,
    Timer,
)
from tests.support.pg_cluster import create_database_at, drop_database_at

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "bpmn"

SERVICE_DESK = Actor("sam", frozenset({"Service Desk"}))
RESOLVER = Actor("rita", frozenset({"Resolver Group"}))
RESOLVER_2 = Actor("rolf", frozenset({"Resolver Group"}))
MANAGER = Actor("ivan", frozenset({"Incident Manager"}))
OUTSIDER = Actor("olga", frozenset({"Reader"}))
OWNER = Actor("paula", frozenset({"Process Owner"}))

CALLER = "alice@example.com"

# Canonical, valid data for every user task of the library, by task title.
FORM_DATA: dict[str, dict[str, Any]] = {
    "Record and classify": {
        "caller": CALLER,
        "channel": "phone",
        "service": "Email",
        "ci": "SRV-0042",
        "category": "software",
        "summary": "Mail is down for me",
        "description": "Outlook says it cannot connect since 9:00.",
        "impact": 2,
        "urgency": 2,
    },
    "Investigate and diagnose": {
        "assignment_group": "Applications",
        "findings": "Mail profile is corrupt",
        "outcome": "resolved",
    },
    "Resolve": {
        "resolution_code": "fixed",
        "resolution_notes": "Rebuilt the mail profile; mail works again.",
    },
    "Review escalated incident": {
        "decision": "continue",
        "management_note": "Applications keeps it, update me hourly.",
    },
    "Take ownership": {
        "major_incident_manager": "ivan",
        "communication_plan": "Status page every 30 minutes, management mail hourly.",
    },
    "Coordinate resolution": {
        "resolution_code": "workaround",
        "resolution_notes": "Failed over to the standby mail cluster.",
    },
    "Post-incident review": {
        "root_cause_summary": "Storage controller firmware bug on the primary cluster.",
        "lessons_learned": "Fail over sooner; monitor controller latency.",
        "follow_up_problem": True,
    },
}


def form_data(title: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of the canonical data for ``title`` with ``overrides`` applied."""
    return {**copy.deepcopy(FORM_DATA[title]), **overrides}


# --------------------------------------------------------------------------- fixtures


def _open(url: str, script_time_limit: float = 2.0, deploy: bool = True) -> Orchestrator:
    db = Database(url)
    migrate.upgrade(db)
    orchestrator = Orchestrator(db, script_time_limit=script_time_limit)
    if deploy:
        results = orchestrator.deploy_paths([LIBRARY], SYSTEM)
        rejected = {r.key: [str(p) for p in r.problems] + [g.message for g in r.gaps]
                    for r in results if r.outcome is None}
        assert not rejected, f"the library was rejected: {rejected}"
        assert {r.key for r in results} == {f.name for f in process_folders(LIBRARY)}
    return orchestrator


def deploy_models(orchestrator: Orchestrator, *keys: str) -> Orchestrator:
    """Deploy only the named process folders of ``bpmn/`` (after registering the library's
    roles): quicker than the whole library, and independent of models others are editing."""
    roles = json.loads((LIBRARY / "roles.json").read_text())["roles"]
    with orchestrator.db.write() as session:
        register_roles(session, {r["name"]: r.get("description", "") for r in roles})
    results = orchestrator.deploy_paths([LIBRARY / key for key in keys], SYSTEM)
    rejected = {r.key: [str(p) for p in r.problems] for r in results if r.outcome is None}
    assert not rejected, f"models were rejected: {rejected}"
    return orchestrator


# One deployed library per backend for the whole session: deploying ~30 folders costs
# seconds, cloning a database costs milliseconds (a file copy, or CREATE DATABASE ... TEMPLATE).
_templates: dict[str, str] = {}


def _library_template(database_url: str, tmp_path_factory: pytest.TempPathFactory,
                      request: pytest.FixtureRequest) -> str:
    if database_url.startswith("sqlite"):
        key = "sqlite"
        if key not in _templates:
            path = tmp_path_factory.mktemp("library") / "library.db"
            db = _open(f"sqlite:///{path}").db
            with db.engine.connect() as connection:  # fold the WAL into the file we copy
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            db.dispose()
            _templates[key] = str(path)
        return _templates[key]
    key = "postgresql"
    if key not in _templates:
        server = request.getfixturevalue("postgres_url")
        url = create_database_at(server, "library_template")
        _open(url).db.dispose()
        _templates[key] = "library_template"
    return _templates[key]


def _clone_library(database_url: str, tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> None:
    """Turn this test's empty database into a copy of the deployed library."""
    template = _library_template(database_url, tmp_path_factory, request)
    if database_url.startswith("sqlite"):
        shutil.copyfile(template, database_url.removeprefix("sqlite:///"))
        return
    server = request.getfixturevalue("postgres_url")
    name = database_url.rsplit("/", 1)[1]
    drop_database_at(server, name)
    create_database_at(server, name, template=template)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql"],
)
def library(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Orchestrator]:
    """One orchestrator per test module and database on a clone of the deployed library.

    For long path tables: tests sharing it must not depend on each other (each starts its
    own instances and finds tasks by instance id).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('module')}/itsm.db"
        _clone_library(url, tmp_path_factory, request)
        server = name = None
    else:
        server, name = request.getfixturevalue("postgres_url"), f"t_{uuid.uuid4().hex}"
        template = _library_template(server, tmp_path_factory, request)
        url = create_database_at(server, name, template=template)
    orchestrator = _open(url, deploy=False)
    try:
        yield orchestrator
    finally:
        orchestrator.db.dispose()
        if server is not None and name is not None:
            drop_database_at(server, name)


@pytest.fixture
def make_orchestrator(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Orchestrator]]:
    """``make(script_time_limit=2.0, deploy=True)``: an orchestrator on this test's database.

    With ``deploy`` the first call clones the session's deployed library, unless a manual
    clock runs (then the library is deployed at that clock's time, as schedules need).
    """
    made: list[Orchestrator] = []

    def make(script_time_limit: float = 2.0, deploy: bool = True) -> Orchestrator:
        fast = deploy and not made and not isinstance(current_clock(), ManualClock)
        if fast:
            _clone_library(database_url, tmp_path_factory, request)
        orchestrator = _open(database_url, script_time_limit, deploy and not fast)
        made.append(orchestrator)
        return orchestrator

    yield make
    for orchestrator in made:
        orchestrator.db.dispose()


@pytest.fixture
def orchestrator(make_orchestrator: Callable[..., Orchestrator]) -> Orchestrator:
    return make_orchestrator()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2030, 1, 7, 9, 0, tzinfo=UTC))
    previous = use_clock(manual)
    try:
        yield manual
    finally:
        use_clock(previous)


# --------------------------------------------------------------------------- probes

PROBE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_probe" targetNamespace="http://example.org/probe">
  <bpmn:process id="{key}" name="Probe" isExecutable="true">
    <bpmn:startEvent id="Event_begin"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="Activity_script" name="Run the script" scriptFormat="python">
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="Event_finish"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Event_begin" targetRef="Activity_script" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_script" targetRef="Event_finish" />
  </bpmn:process>
</bpmn:definitions>
"""


def probe_folder(base: Path, key: str, script: str) -> Path:
    """A process folder ``key`` under ``base``: start, one script task, end; no lanes."""
    folder = base / "probes" / key
    folder.mkdir(parents=True)
    manifest = {"name": f"Probe {key}", "process_id": key, "owner_role": "Incident Manager",
                "iso20000": {"2018": ["8.6.1"]}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "probe.bpmn").write_text(PROBE_BPMN.format(key=key, script=escape(script)))
    return folder


# --------------------------------------------------------------------------- drivers


def find_task(
    orchestrator: Orchestrator, actor: Actor, title: str, instance_id: int | None = None
) -> Any:
    """The actor's single inbox task with ``title`` (of ``instance_id`` if given)."""
    inbox = orchestrator.inbox(actor, InboxFilter(limit=1000))
    tasks = [
        t for t in inbox
        if t.title == title and (instance_id is None or t.instance_id == instance_id)
    ]
    titles = [t.title for t in inbox]
    assert len(tasks) == 1, f"{actor.name} should have one {title!r} task; inbox: {titles}"
    return tasks[0]


def complete_current(
    orchestrator: Orchestrator,
    actor: Actor,
    title: str,
    data: dict[str, Any] | None = None,
    instance_id: int | None = None,
) -> InstanceOutcome:
    """Complete the actor's inbox task ``title`` with ``data`` (default: canonical data)."""
    task = find_task(orchestrator, actor, title, instance_id)
    payload = form_data(title) if data is None else data
    return orchestrator.complete_task(task.id, payload, actor)


def start_incident(orchestrator: Orchestrator, actor: Actor = SERVICE_DESK) -> InstanceOutcome:
    return orchestrator.start_instance("incident", {}, actor)


def record_incident(
    orchestrator: Orchestrator, impact: int = 2, urgency: int = 2, **overrides: Any
) -> InstanceOutcome:
    """Start an incident and complete "Record and classify"."""
    started = start_incident(orchestrator)
    data = form_data("Record and classify", impact=impact, urgency=urgency, **overrides)
    return complete_current(orchestrator, SERVICE_DESK, "Record and classify", data,
                            started.instance_id)


def confirm(orchestrator: Orchestrator, business_key: str, accepted: bool = True) -> Any:
    return orchestrator.deliver_message(
        "incident_confirmation", {"incident_number": business_key}, {"accepted": accepted},
        SERVICE_DESK,
    )


def audit_kinds(orchestrator: Orchestrator, instance_id: int) -> list[str]:
    return [e.kind for e in orchestrator.events(instance_id, SYSTEM)]


def notifications(orchestrator: Orchestrator, instance_id: int) -> list[Notification]:
    with orchestrator.db.read() as session:
        return list(session.scalars(
            select(Notification).where(Notification.instance_id == instance_id)
            .order_by(Notification.id)
        ))


def timers_of(orchestrator: Orchestrator, instance_id: int) -> list[Timer]:
    with orchestrator.db.read() as session:
        return list(session.scalars(
            select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.due_at)
        ))


def snapshot(orchestrator: Orchestrator, instance_id: int | None = None) -> dict[str, Any]:
    """What must not change when an operation is refused: counts, and the instance row."""
    with orchestrator.db.read() as session:
        def count(model: Any) -> int:
            return session.scalar(select(func.count()).select_from(model)) or 0

        result: dict[str, Any] = {
            "audit_events": count(AuditEvent),
            "human_tasks": sorted(
                (t.id, t.assignee) for t in session.scalars(select(HumanTask))
            ),
            "process_versions": count(ProcessVersion),
            "instances": count(ProcessInstance),
            "timers": count(Timer),
            "subscriptions": count(MessageSubscription),
            "notifications": count(Notification),
        }
        if instance_id is not None:
            row = session.get(ProcessInstance, instance_id)
            assert row is not None
            result["instance"] = (row.lock_version, row.status, row.record_status, row.state)
        return result


@pytest.fixture
def service_desk() -> Actor:
    return SERVICE_DESK


@pytest.fixture
def resolver() -> Actor:
    return RESOLVER


@pytest.fixture
def manager() -> Actor:
    return MANAGER


@pytest.fixture
def outsider() -> Actor:
    return OUTSIDER
