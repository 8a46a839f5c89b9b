"""The read side: inbox, tasks with their forms, instances, audit trail, process models.

Reads never restore a workflow except to show an instance's current data; the inbox and
lists are indexed queries on ``human_task`` and ``process_instance``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from engine import spiff
from engine.access import Actor
from engine.errors import NotAllowed, NotFound
from engine.instance_store import InstanceStore
from engine.process_cache import ProcessCache
from storage.models import (
    AuditEvent,
    HumanTask,
    InstanceLink,
    ProcessInstance,
    ProcessModel,
    ProcessVersion,
)

__all__ = ["InboxFilter", "InstanceView", "Queries", "TaskView"]


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: int
    business_key: str
    process_key: str
    name: str
    title: str
    lane: str | None
    assignee: str | None
    created_at: datetime
    due_at: datetime | None
    record_title: str | None
    priority: str | None
    instructions: str | None = None
    form_schema: dict[str, Any] | None = None
    form_ui_schema: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceView:
    id: int
    business_key: str
    process_key: str
    version: int
    status: str
    error: str | None
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    record: dict[str, str | None]
    open_tasks: list[TaskView]
    data: dict[str, Any] = field(default_factory=dict)
    related: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class InboxFilter:
    process_key: str | None = None
    role: str | None = None
    assignee: str | None = None
    due_before: datetime | None = None
    limit: int = 50
    offset: int = 0


class Queries:
    def __init__(self, cache: ProcessCache, store: InstanceStore) -> None:
        self._cache = cache
        self._store = store

    # ------------------------------------------------------------------ tasks

    def inbox(self, session: Session, actor: Actor, filters: InboxFilter) -> list[TaskView]:
        """Tasks in the actor's lanes (unclaimed or claimed by them) or assigned to them."""
        query = _task_select()
        if not actor.is_admin:
            query = query.where(or_(
                HumanTask.assignee == actor.name,
                HumanTask.assignee.is_(None) & HumanTask.lane.in_(sorted(actor.roles)),
            ))
        query = _apply_inbox_filters(query, filters)
        rows = session.execute(query.limit(filters.limit).offset(filters.offset)).all()
        return [_task_view(*row) for row in rows]

    def task(self, session: Session, task_id: str, actor: Actor) -> TaskView:
        row = session.execute(_task_select().where(HumanTask.id == task_id)).first()
        if row is None:
            raise NotFound(f"no open task {task_id}")
        task = row[0]
        if not actor.may_work_on(task.lane, task.assignee) and not actor.may_see_all_instances():
            raise NotAllowed(f"{actor.name} may not see this task")
        loaded = self._store.load(session, task.instance_id)
        ready = spiff.find_ready_user_task(loaded.workflow, task_id)
        schema = ui = None
        if task.form_schema:
            schema = self._cache.form(session, task.form_version_id, task.form_schema)
        if task.form_ui_schema:
            ui = self._cache.form(session, task.form_version_id, task.form_ui_schema)
        return _task_view(*row, instructions=task.instructions, form_schema=schema,
                          form_ui_schema=ui, data=dict(ready.data) if ready else {})

    # ------------------------------------------------------------------ instances

    def instance(self, session: Session, instance_id: int, actor: Actor) -> InstanceView:
        row, tasks = self._visible(session, instance_id, actor)
        loaded = self._store.load(session, instance_id)
        return _instance_view(row, tasks, spiff.workflow_data(loaded.workflow),
                              related(session, instance_id))

    def _visible(
        self, session: Session, instance_id: int, actor: Actor
    ) -> tuple[ProcessInstance, list[TaskView]]:
        """The instance row and its open tasks, if the actor may see it (no state restored)."""
        row = session.get(ProcessInstance, instance_id)
        if row is None:
            raise NotFound(f"no instance with id {instance_id}")
        tasks = [
            _task_view(*r) for r in session.execute(
                _task_select().where(HumanTask.instance_id == instance_id)
            ).all()
        ]
        if not _may_see(row, actor, tasks):
            raise NotAllowed(f"{actor.name} may not see instance {instance_id}")
        return row, tasks

    def instances(
        self,
        session: Session,
        actor: Actor,
        *,
        process_key: str | None = None,
        status: str | None = None,
        business_key: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[InstanceView], int]:
        query = (
            select(ProcessInstance)
            .join(ProcessVersion, ProcessInstance.version_id == ProcessVersion.id)
            .join(ProcessModel, ProcessVersion.model_id == ProcessModel.id)
        )
        if process_key:
            query = query.where(ProcessModel.key == process_key)
        if status:
            query = query.where(ProcessInstance.status == status)
        if business_key:
            query = query.where(ProcessInstance.business_key == business_key)
        if text:
            pattern = f"%{text.lower()}%"
            query = query.where(or_(
                func.lower(ProcessInstance.title).like(pattern),
                func.lower(ProcessInstance.service).like(pattern),
                func.lower(ProcessInstance.business_key).like(pattern),
            ))
        if not actor.may_see_all_instances():
            query = query.where(_visible_to(actor))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(ProcessInstance.id.desc()).limit(limit).offset(offset)
        ).all()
        return [_instance_view(r, [], {}, []) for r in rows], total

    def events(self, session: Session, instance_id: int, actor: Actor) -> list[AuditEvent]:
        """The audit trail, oldest first, for whoever may see the instance."""
        self._visible(session, instance_id, actor)
        return list(session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance_id)
            .order_by(AuditEvent.id)
        ))


def _may_see(row: ProcessInstance, actor: Actor, tasks: list[TaskView]) -> bool:
    if actor.may_see_all_instances() or row.started_by == actor.name:
        return True
    if actor.holds(row.version.model.owner_role):
        return True
    return any(actor.may_work_on(t.lane, t.assignee) for t in tasks)


def related(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """Instances linked to this one by a routed message or signal, both directions."""
    links = session.scalars(select(InstanceLink).where(or_(
        InstanceLink.source_id == instance_id, InstanceLink.target_id == instance_id
    )).order_by(InstanceLink.id))
    result = []
    for link in links:
        outgoing = link.source_id == instance_id
        other = link.target_id if outgoing else link.source_id
        result.append({"instance_id": other, "via": link.via,
                       "direction": "outgoing" if outgoing else "incoming"})
    return result


def _visible_to(actor: Actor) -> Any:
    lanes = sorted(actor.roles)
    may_act = select(HumanTask.instance_id).where(or_(
        HumanTask.assignee == actor.name,
        HumanTask.assignee.is_(None) & HumanTask.lane.in_(lanes),
    ))
    return or_(
        ProcessInstance.started_by == actor.name,
        ProcessInstance.id.in_(may_act),
        ProcessModel.owner_role.in_(lanes),
    )


def _task_select() -> Any:
    return (
        select(HumanTask, ProcessInstance.business_key, ProcessModel.key,
               ProcessInstance.title, ProcessInstance.priority)
        .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
        .join(ProcessVersion, ProcessInstance.version_id == ProcessVersion.id)
        .join(ProcessModel, ProcessVersion.model_id == ProcessModel.id)
        .order_by(HumanTask.created_at, HumanTask.id)
    )


def _apply_inbox_filters(query: Select[Any], filters: InboxFilter) -> Select[Any]:
    if filters.process_key:
        query = query.where(ProcessModel.key == filters.process_key)
    if filters.role:
        query = query.where(HumanTask.lane == filters.role)
    if filters.assignee:
        query = query.where(HumanTask.assignee == filters.assignee)
    if filters.due_before:
        query = query.where(HumanTask.due_at <= filters.due_before)
    return query


def _task_view(
    task: HumanTask, business_key: str, process_key: str, title: str | None,
    priority: str | None, **extra: Any,
) -> TaskView:
    return TaskView(
        id=task.id, instance_id=task.instance_id, business_key=business_key,
        process_key=process_key, name=task.spec_name, title=task.title, lane=task.lane,
        assignee=task.assignee, created_at=task.created_at, due_at=task.due_at,
        record_title=title, priority=priority, **extra,
    )


def _instance_view(
    row: ProcessInstance, tasks: list[TaskView], data: dict[str, Any],
    links: list[dict[str, Any]],
) -> InstanceView:
    return InstanceView(
        id=row.id, business_key=row.business_key, process_key=row.version.model.key,
        version=row.version.number, status=row.status, error=row.error,
        started_by=row.started_by, started_at=row.started_at, ended_at=row.ended_at,
        record={"title": row.title, "priority": row.priority, "service": row.service,
                "assignee_group": row.assignee_group, "status": row.record_status},
        open_tasks=tasks, data=data, related=links,
    )
