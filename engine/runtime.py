"""Operations on instances: start, complete a task, claim, unclaim, cancel.

Each public method is one unit of work: load (with the version counter), act, run engine
steps, route what the instance threw, save state and index rows, append audit events, commit.
Either all of it lands or none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.access import Actor
from engine.errors import (
    Conflict,
    FieldError,
    FormInvalid,
    InstanceNotRunning,
    InvalidInput,
    NotAllowed,
    NotFound,
    TaskNotReady,
)
from engine.events import EventRouter
from engine.instance_store import InstanceStore, LoadedInstance
from engine.process_cache import ProcessCache
from engine.stepping import audit, step
from forms import validate_form
from storage.database import Database
from storage.models import (
    BusinessKeyCounter,
    HumanTask,
    ProcessDefinitionIndex,
    ProcessInstance,
    ProcessModel,
    ProcessVersion,
)

__all__ = ["InstanceOutcome", "Runtime"]

_MAX_DATA_KEYS = 200


@dataclass(frozen=True)
class InstanceOutcome:
    """What an operation left behind: the instance's status and its ready tasks' ids."""

    instance_id: int
    business_key: str
    status: str
    error: str | None
    ready_task_ids: list[str]


class Runtime:
    def __init__(self, db: Database, cache: ProcessCache, store: InstanceStore) -> None:
        self.db = db
        self.cache = cache
        self.store = store
        self.events = EventRouter(self)

    # ------------------------------------------------------------------ start

    def start_instance(
        self,
        process_key: str,
        data: Mapping[str, Any] | None,
        actor: Actor,
        business_key: str | None = None,
    ) -> InstanceOutcome:
        with self.db.write() as session:
            version = latest_version(session, process_key)
            _refuse_message_only_start(session, version)
            loaded = self.start_in_session(session, version, dict(data or {}), actor, business_key)
            return outcome(session, loaded)

    def start_in_session(
        self,
        session: Session,
        version: ProcessVersion,
        data: dict[str, Any],
        actor: Actor,
        business_key: str | None,
        *,
        on_started: Callable[[LoadedInstance], None] | None = None,
    ) -> LoadedInstance:
        _check_start_data(data)
        key = business_key or next_business_key(session, version)
        if session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == key)):
            raise Conflict(f"business key {key!r} is already used by another instance")
        called = resolve_called_versions(session, version)
        loaded = self.store.create(
            session, version, called, {**data, "business_key": key}, key, actor.name
        )
        audit(session, loaded.row.id, actor.name, "instance_started",
              process=version.model.key, version=version.number, data=data)
        step(session, loaded, actor.name, lambda: None)
        if on_started is not None:
            on_started(loaded)
        self.finish(session, loaded, actor)
        return loaded

    # ------------------------------------------------------------------ tasks

    def complete_task(
        self, task_id: str, data: Mapping[str, Any], actor: Actor
    ) -> InstanceOutcome:
        with self.db.write() as session:
            task = _human_task(session, task_id)
            if not actor.may_work_on(task.lane, task.assignee):
                raise NotAllowed(_not_allowed_message(actor, task))
            errors = self._form_errors(session, task, data)
            if errors:
                raise FormInvalid(errors)
            loaded = self.store.load(session, task.instance_id)
            _require_running(loaded)
            ready = spiff.find_ready_user_task(loaded.workflow, task_id)
            if ready is None:
                raise TaskNotReady(f"task {task_id} is no longer ready")
            before = {k: ready.data.get(k) for k in data}
            # Recorded before the steps run, so the trail reads in the order things happened.
            audit(session, loaded.row.id, actor.name, "task_completed", task.title,
                  task_id=task_id, data=dict(data), changed=_changes(before, data))
            step(session, loaded, actor.name,
                 lambda: spiff.complete_user_task(loaded.workflow, task_id, data))
            self.finish(session, loaded, actor)
            return outcome(session, loaded)

    def _form_errors(
        self, session: Session, task: HumanTask, data: Mapping[str, Any]
    ) -> list[FieldError]:
        if not isinstance(data, Mapping):
            return [FieldError("", "The form data must be a JSON object.")]
        if task.form_schema is None:
            return []
        schema = self.cache.form(session, task.form_version_id, task.form_schema)
        return [FieldError(e.field, e.message) for e in validate_form(schema, data)]

    def claim_task(self, task_id: str, actor: Actor) -> None:
        with self.db.write() as session:
            task = _human_task(session, task_id)
            if task.assignee == actor.name:
                return
            if task.assignee is not None:
                raise Conflict(f"task {task_id} is already claimed by {task.assignee}")
            if not actor.may_work_on(task.lane, None):
                raise NotAllowed(_not_allowed_message(actor, task))
            # Conditional update: of two people claiming at once exactly one gets the task.
            claimed = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.assignee.is_(None))
                .values(assignee=actor.name)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"task {task_id} was claimed by someone else just now")
            audit(session, task.instance_id, actor.name, "task_claimed", task.title,
                  task_id=task_id)

    def unclaim_task(self, task_id: str, actor: Actor) -> None:
        with self.db.write() as session:
            task = _human_task(session, task_id)
            if task.assignee is None:
                if not actor.may_work_on(task.lane, None):
                    raise NotAllowed(_not_allowed_message(actor, task))
                return
            if task.assignee != actor.name and not actor.is_admin:
                raise NotAllowed(f"only {task.assignee} or an admin may release this task")
            released = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.assignee == task.assignee)
                .values(assignee=None)
                .execution_options(synchronize_session=False)
            )
            if released.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"task {task_id} changed hands just now; reload it")
            audit(session, task.instance_id, actor.name, "task_unclaimed", task.title,
                  task_id=task_id, previous_assignee=task.assignee)

    # ------------------------------------------------------------------ cancel

    def cancel_instance(self, instance_id: int, actor: Actor, reason: str = "") -> InstanceOutcome:
        with self.db.write() as session:
            loaded = self.store.load(session, instance_id)
            _require_running(loaded)
            owner = loaded.version.model.owner_role
            if not (actor.holds(owner) or actor.name == loaded.row.started_by):
                raise NotAllowed(f"only the starter, a {owner} or an admin may cancel")
            spiff.cancel(loaded.workflow)
            loaded.row.status = "cancelled"
            loaded.row.ended_at = loaded.row.updated_at = clock.now()
            audit(session, instance_id, actor.name, "instance_cancelled", reason=reason)
            self.store.save(session, loaded)
            return outcome(session, loaded)

    # ------------------------------------------------------------------ shared

    def finish(self, session: Session, loaded: LoadedInstance, actor: Actor) -> None:
        """Save, then route what the instance threw (the caller's transaction commits)."""
        thrown = spiff.drain_thrown_events(loaded.workflow)
        self.store.save(session, loaded)
        self.events.route_thrown(session, loaded.row.id, thrown, actor)


def latest_version(session: Session, process_key: str) -> ProcessVersion:
    version = session.scalar(
        select(ProcessVersion)
        .join(ProcessModel)
        .where(ProcessModel.key == process_key, ProcessVersion.status == "active")
        .order_by(ProcessVersion.number.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(f"no deployed process model {process_key!r}")
    return version


def _refuse_message_only_start(session: Session, version: ProcessVersion) -> None:
    """A process that starts on a message must be started by that message.

    Started directly it would wait at its start event and swallow the next such message
    meant to start a new instance.
    """
    message = session.scalar(
        select(ProcessDefinitionIndex.start_message).where(
            ProcessDefinitionIndex.model_id == version.model_id,
            ProcessDefinitionIndex.process_id == version.process_id,
            ProcessDefinitionIndex.start_message.is_not(None),
        ).limit(1)
    )
    if message is not None:
        raise InvalidInput(
            f"process {version.model.key!r} starts on the message {message!r}: send it with "
            f"POST /api/v1/messages/{message} instead of starting the process directly"
        )


def resolve_called_versions(session: Session, version: ProcessVersion) -> dict[str, int]:
    """Pin the latest version of every process reached through call activities."""
    pinned: dict[str, int] = {}
    pending = list(version.called_processes or [])
    while pending:
        process_id = pending.pop()
        if process_id in pinned or process_id == version.process_id:
            continue
        model_id = session.scalar(
            select(ProcessDefinitionIndex.model_id).where(
                ProcessDefinitionIndex.process_id == process_id
            ).limit(1)
        )
        if model_id is None:
            raise NotFound(f"called process {process_id!r} is not deployed")
        called = session.scalar(
            select(ProcessVersion).where(ProcessVersion.model_id == model_id)
            .order_by(ProcessVersion.number.desc()).limit(1)
        )
        assert called is not None
        pinned[process_id] = called.id
        pending.extend(called.called_processes or [])
    return pinned


def next_business_key(session: Session, version: ProcessVersion) -> str:
    prefix = counter_prefix(version.model.key, version.manifest.get("business_key_prefix"))
    value = session.scalar(
        update(BusinessKeyCounter)
        .where(BusinessKeyCounter.prefix == prefix)
        .values(last_value=BusinessKeyCounter.last_value + 1)
        .returning(BusinessKeyCounter.last_value)
    )
    if value is None:  # deploy creates every counter; a missing one starts at 1
        value = 1
        session.add(BusinessKeyCounter(prefix=prefix, last_value=value))
        session.flush()
    return f"{prefix}-{value:06d}"


def counter_prefix(model_key: str, manifest_prefix: str | None) -> str:
    return manifest_prefix or model_key.upper()[:10]


def outcome(session: Session, loaded: LoadedInstance) -> InstanceOutcome:
    ids = list(session.scalars(
        select(HumanTask.id).where(HumanTask.instance_id == loaded.row.id)
        .order_by(HumanTask.created_at, HumanTask.id)
    ))
    row = loaded.row
    return InstanceOutcome(row.id, row.business_key, row.status, row.error, ids)


def _human_task(session: Session, task_id: str) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise TaskNotReady(f"task {task_id} is not open (completed, cancelled or unknown)")
    return task


def _require_running(loaded: LoadedInstance) -> None:
    if loaded.row.status != "running":
        raise InstanceNotRunning(f"instance {loaded.row.id} is {loaded.row.status}")


def _not_allowed_message(actor: Actor, task: HumanTask) -> str:
    if task.assignee and task.assignee != actor.name:
        return f"task is claimed by {task.assignee}"
    return f"{actor.name} does not hold the role {task.lane!r} this task needs"


def _check_start_data(data: dict[str, Any]) -> None:
    if not isinstance(data, dict):
        raise InvalidInput("start data must be a JSON object")
    if len(data) > _MAX_DATA_KEYS:
        raise InvalidInput(f"start data may have at most {_MAX_DATA_KEYS} keys")
    if "business_key" in data:
        raise InvalidInput("'business_key' is set by the engine; pass it as business_key")


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
