"""The engine's front door: one object wired in one place, used by the CLI, API and worker.

Each method is one unit of work (its own transaction) unless it takes a session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import catalog, clock, spiff
from engine.access import Actor
from engine.bpmn_import import import_folder
from engine.catalog import (
    ProcessDetail,
    ProcessSummary,
    ScheduleSummary,
    TaskBrief,
    VersionSummary,
)
from engine.connectors import ConnectorContext, ConnectorRegistry, default_registry
from engine.deploy import DeployOutcome, dependency_order, deploy_files, read_folder, register_roles
from engine.errors import ConformanceGaps, DeployRejected, Gap, InvalidInput, Problem
from engine.events import MessageOutcome
from engine.instance_store import InstanceStore
from engine.process_cache import ProcessCache
from engine.queries import InboxFilter, InstanceView, Queries, TaskView
from engine.runtime import InstanceOutcome, Runtime
from engine.script_sandbox import RestrictedEnvironment
from engine.timers import FiredTimers, TimerWorker, fire_due_timers
from storage.database import Database
from storage.models import AuditEvent

__all__ = ["FolderResult", "Orchestrator", "process_folders"]

ROLES_FILE = "roles.json"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class FolderResult:
    key: str
    outcome: DeployOutcome | None
    problems: list[Problem]
    # Requirements the folder no longer meets; not deployed because they were not accepted.
    gaps: list[Gap] = field(default_factory=list)


class Orchestrator:
    def __init__(
        self,
        db: Database,
        *,
        script_time_limit: float = 2.0,
        connectors: ConnectorRegistry | None = None,
    ) -> None:
        self.db = db
        self.script_time_limit = script_time_limit
        self.connectors = connectors or default_registry()
        self.cache = ProcessCache()
        self.store = InstanceStore(self.cache, self._script_engine)
        self.runtime = Runtime(db, self.cache, self.store)
        self.queries = Queries(self.cache, self.store)

    def _script_engine(self, context: ConnectorContext) -> spiff.PythonScriptEngine:
        environment = RestrictedEnvironment(
            connectors=self.connectors,
            clock=clock.now,
            time_limit_seconds=self.script_time_limit,
            connector_context=context,
        )
        return spiff.PythonScriptEngine(environment=environment)

    # ------------------------------------------------------------------ deploy

    def deploy(
        self, key: str, files: Mapping[str, bytes], actor: Actor, *, accept_gaps: bool = False
    ) -> DeployOutcome:
        """Deploy one folder; ``accept_gaps`` deploys it despite conformance gaps (recorded)."""
        with self.db.write() as session:
            return deploy_files(session, key, files, actor, accept_gaps=accept_gaps)

    def deploy_paths(
        self, paths: list[Path], actor: Actor, *, accept_gaps: bool = False
    ) -> list[FolderResult]:
        """Deploy process folders, or folders of them (with a ``roles.json`` beside them).

        Folders go in dependency order (a called process first), each in its own
        transaction: a rejected folder changes nothing and does not stop the others. A folder
        with conformance gaps is rejected (``FolderResult.gaps``) unless ``accept_gaps``.
        """
        folders: dict[str, dict[str, bytes]] = {}
        for path in paths:
            self._register_roles_beside(path, actor)
            for folder in process_folders(path):
                folders[folder.name] = read_folder(folder)
        results = []
        for key in dependency_order(folders):
            try:
                outcome = self.deploy(key, folders[key], actor, accept_gaps=accept_gaps)
                results.append(FolderResult(key, outcome, []))
            except DeployRejected as rejected:
                results.append(FolderResult(key, None, rejected.problems))
            except ConformanceGaps as gaps:
                results.append(FolderResult(key, None, [], gaps.gaps))
        return results

    def import_bpmn(
        self, key: str, bpmn: bytes, actor: Actor, *, file_name: str | None = None,
        process_id: str | None = None,
    ) -> DeployOutcome:
        """Deploy one BPMN file drawn in another tool, with a manifest made for it.

        The file is stored byte for byte (as ``file_name``, default ``<key>.bpmn``) beside a
        ``manifest.json`` naming ``process_id`` (default: its executable process; see
        ``engine.bpmn_import``). ``DeployRejected`` lists every construct this engine
        cannot execute, with element id, type and reason.
        """
        imported = import_folder(file_name or f"{key}.bpmn", bpmn, process_id)
        try:
            return self.deploy(key, imported.files, actor)
        except DeployRejected as rejected:
            raise DeployRejected(key, imported.merged(rejected.problems)) from None

    def _register_roles_beside(self, path: Path, actor: Actor) -> None:
        roles_file = path / ROLES_FILE
        if not roles_file.is_file():
            return
        if not actor.may_deploy():
            raise InvalidInput("only a process owner or admin may register roles")
        roles = json.loads(roles_file.read_text())["roles"]
        with self.db.write() as session:
            register_roles(session, {r["name"]: r.get("description", "") for r in roles})

    # ------------------------------------------------------------------ run

    def start_instance(
        self, process_key: str, data: Mapping[str, Any] | None, actor: Actor,
        business_key: str | None = None,
    ) -> InstanceOutcome:
        return self.runtime.start_instance(process_key, data, actor, business_key)

    def complete_task(self, task_id: str, data: Mapping[str, Any], actor: Actor) -> InstanceOutcome:
        return self.runtime.complete_task(task_id, data, actor)

    def claim_task(self, task_id: str, actor: Actor) -> None:
        self.runtime.claim_task(task_id, actor)

    def unclaim_task(self, task_id: str, actor: Actor) -> None:
        self.runtime.unclaim_task(task_id, actor)

    def cancel_instance(self, instance_id: int, actor: Actor, reason: str = "") -> InstanceOutcome:
        return self.runtime.cancel_instance(instance_id, actor, reason)

    def deliver_message(
        self, name: str, correlation: Mapping[str, Any], payload: Mapping[str, Any], actor: Actor
    ) -> MessageOutcome:
        return self.runtime.events.deliver_message(name, correlation, payload, actor)

    def fire_due_timers(self, limit: int = 200) -> FiredTimers:
        return fire_due_timers(self.runtime, limit)

    def timer_worker(self, poll_seconds: float = 1.0) -> TimerWorker:
        return TimerWorker(self.runtime, poll_seconds)

    # ------------------------------------------------------------------ read

    def inbox(self, actor: Actor, filters: InboxFilter | None = None) -> list[TaskView]:
        with self.db.read() as session:
            return self.queries.inbox(session, actor, filters or InboxFilter())

    def task(self, task_id: str, actor: Actor) -> TaskView:
        with self.db.read() as session:
            return self.queries.task(session, task_id, actor)

    def instance(self, instance_id: int, actor: Actor) -> InstanceView:
        with self.db.read() as session:
            return self.queries.instance(session, instance_id, actor)

    def events(self, instance_id: int, actor: Actor) -> list[AuditEvent]:
        with self.db.read() as session:
            return self.queries.events(session, instance_id, actor)

    def instances(self, actor: Actor, **filters: Any) -> tuple[list[InstanceView], int]:
        """Instances the actor may see, newest first, and their total (see Queries.instances)."""
        with self.db.read() as session:
            return self.queries.instances(session, actor, **filters)

    def open_tasks(self, instance_id: int) -> list[TaskBrief]:
        with self.db.read() as session:
            return catalog.open_tasks(session, instance_id)

    # ------------------------------------------------------------------ catalogue

    def processes(self) -> list[ProcessSummary]:
        with self.db.read() as session:
            return catalog.processes(session)

    def process(self, key: str) -> ProcessDetail:
        with self.db.read() as session:
            return catalog.process(session, key)

    def schedules(self) -> list[ScheduleSummary]:
        """When each periodic process next starts an instance by itself."""
        with self.db.read() as session:
            return catalog.schedules(session)

    def versions(self, key: str) -> list[VersionSummary]:
        with self.db.read() as session:
            return catalog.versions(session, key)

    def version_file(self, key: str, number: int, name: str) -> bytes:
        with self.db.read() as session:
            return catalog.version_file(session, key, number, name)


def process_folders(path: Path) -> list[Path]:
    """The process folders at ``path``: the folder itself, or the folders inside it."""
    if (path / MANIFEST_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a folder")
    return sorted(p for p in path.iterdir() if (p / MANIFEST_FILE).is_file())
