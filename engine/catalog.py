"""The process catalogue, read side: deployed models, their version history, deployed files,
and an instance's open tasks in brief.

Plain SQLAlchemy queries that return small frozen dataclasses; nothing here restores a
workflow. Unknown keys, versions or files raise :class:`~engine.errors.NotFound`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from engine.errors import NotFound
from storage.models import (
    HumanTask,
    ProcessDefinitionIndex,
    ProcessModel,
    ProcessSchedule,
    ProcessVersion,
    VersionFile,
)

__all__ = [
    "ProcessDetail",
    "ProcessSummary",
    "ScheduleSummary",
    "TaskBrief",
    "VersionSummary",
    "open_tasks",
    "process",
    "processes",
    "schedules",
    "version_file",
    "versions",
]


@dataclass(frozen=True)
class VersionSummary:
    """One deployed version of a process model."""

    number: int
    content_hash: str
    status: str
    process_id: str
    deployed_by: str
    deployed_at: datetime
    files: list[str]
    # ISO 20000 requirements not met, accepted when this version was deployed
    # (``engine.errors.Gap.as_dict`` each); empty for a version without gaps.
    accepted_gaps: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ProcessSummary:
    """A deployed process model with what its latest version says about it."""

    key: str
    name: str
    owner_role: str
    iso20000: dict[str, list[str]]
    latest_version: int
    deployed_at: datetime
    deployed_by: str


@dataclass(frozen=True)
class ScheduleSummary:
    """When a periodic process (timer start event) next starts an instance by itself."""

    key: str
    version: int  # the version whose timer start event set it
    element_id: str
    expression_kind: str  # timeCycle, timeDate or timeDuration
    expression: str  # the ISO 8601 value, evaluated at deploy
    anchor_at: datetime
    next_due_at: datetime | None  # None: no occurrence is left
    occurrences_started: int
    last_instance_id: int | None


@dataclass(frozen=True)
class ProcessDetail:
    """A process model: its summary, the latest version in full and its message starts."""

    key: str
    name: str
    owner_role: str
    iso20000: dict[str, list[str]]
    created_at: datetime
    version_count: int
    latest: VersionSummary
    start_messages: list[str]
    schedule: ScheduleSummary | None = None  # a periodic process's next start


@dataclass(frozen=True)
class TaskBrief:
    """An open user task of an instance, without its form."""

    id: str
    name: str
    title: str
    lane: str | None
    assignee: str | None
    due_at: datetime | None


def processes(session: Session) -> list[ProcessSummary]:
    """Every deployed process model with its latest version, ordered by key."""
    rows = session.execute(
        select(ProcessModel, ProcessVersion)
        .join(ProcessVersion, ProcessVersion.model_id == ProcessModel.id)
        .where(ProcessVersion.number == _latest_number(ProcessModel.id))
        .order_by(ProcessModel.key)
    ).all()
    return [
        ProcessSummary(
            key=model.key, name=model.name, owner_role=model.owner_role,
            iso20000=_iso_clauses(version.manifest), latest_version=version.number,
            deployed_at=version.deployed_at, deployed_by=version.deployed_by,
        )
        for model, version in rows
    ]


def process(session: Session, key: str) -> ProcessDetail:
    """One process model in detail; ``NotFound`` when no model has that key."""
    model = _model(session, key)
    history = versions(session, key)
    latest = history[0]
    starts = session.scalars(
        select(ProcessDefinitionIndex.start_message)
        .where(ProcessDefinitionIndex.model_id == model.id,
               ProcessDefinitionIndex.start_message.is_not(None))
        .order_by(ProcessDefinitionIndex.start_message)
    )
    manifest = session.scalar(
        select(ProcessVersion.manifest).where(
            ProcessVersion.model_id == model.id, ProcessVersion.number == latest.number)
    )
    return ProcessDetail(
        key=model.key, name=model.name, owner_role=model.owner_role,
        iso20000=_iso_clauses(manifest or {}), created_at=model.created_at,
        version_count=len(history), latest=latest,
        start_messages=[s for s in starts if s is not None],
        schedule=next(iter(_schedules(session, ProcessSchedule.model_id == model.id)), None),
    )


def schedules(session: Session) -> list[ScheduleSummary]:
    """The schedules of periodic processes, soonest due first (finished ones last)."""
    return _schedules(session, true())


def _schedules(session: Session, where: Any) -> list[ScheduleSummary]:
    rows = session.execute(
        select(ProcessSchedule, ProcessModel.key, ProcessVersion.number)
        .join(ProcessModel, ProcessModel.id == ProcessSchedule.model_id)
        .join(ProcessVersion, ProcessVersion.id == ProcessSchedule.version_id)
        .where(where)
        .order_by(ProcessSchedule.next_due_at.is_(None), ProcessSchedule.next_due_at,
                  ProcessModel.key)
    ).all()
    return [
        ScheduleSummary(
            key=key, version=number, element_id=s.element_id,
            expression_kind=s.expression_kind, expression=s.expression, anchor_at=s.anchor_at,
            next_due_at=s.next_due_at, occurrences_started=s.occurrences_started,
            last_instance_id=s.last_instance_id,
        )
        for s, key, number in rows
    ]


def versions(session: Session, key: str) -> list[VersionSummary]:
    """A model's version history, newest first; ``NotFound`` for an unknown key."""
    model = _model(session, key)
    rows = session.scalars(
        select(ProcessVersion).where(ProcessVersion.model_id == model.id)
        .order_by(ProcessVersion.number.desc())
    ).all()
    names: dict[int, list[str]] = defaultdict(list)
    for version_id, name in session.execute(
        select(VersionFile.version_id, VersionFile.name)
        .where(VersionFile.version_id.in_([r.id for r in rows]))
        .order_by(VersionFile.name)
    ):
        names[version_id].append(name)
    return [
        VersionSummary(
            number=r.number, content_hash=r.content_hash, status=r.status,
            process_id=r.process_id, deployed_by=r.deployed_by, deployed_at=r.deployed_at,
            files=names[r.id], accepted_gaps=list(r.accepted_gaps or []),
        )
        for r in rows
    ]


def version_file(session: Session, key: str, number: int, name: str) -> bytes:
    """A file exactly as deployed with version ``number`` of model ``key``."""
    content = session.scalar(
        select(VersionFile.content)
        .join(ProcessVersion, VersionFile.version_id == ProcessVersion.id)
        .join(ProcessModel, ProcessVersion.model_id == ProcessModel.id)
        .where(ProcessModel.key == key, ProcessVersion.number == number,
               VersionFile.name == name)
    )
    if content is None:
        raise NotFound(f"no file {name!r} in version {number} of process model {key!r}")
    return content


def open_tasks(session: Session, instance_id: int) -> list[TaskBrief]:
    """The instance's ready user tasks, oldest first (empty for an unknown instance)."""
    rows = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id)
        .order_by(HumanTask.created_at, HumanTask.id)
    )
    return [
        TaskBrief(id=t.id, name=t.spec_name, title=t.title, lane=t.lane,
                  assignee=t.assignee, due_at=t.due_at)
        for t in rows
    ]


def _model(session: Session, key: str) -> ProcessModel:
    model = session.scalar(select(ProcessModel).where(ProcessModel.key == key))
    if model is None:
        raise NotFound(f"no deployed process model {key!r}")
    return model


def _latest_number(model_id: Any) -> Any:
    return (
        select(func.max(ProcessVersion.number))
        .where(ProcessVersion.model_id == model_id)
        .correlate(ProcessModel)
        .scalar_subquery()
    )


def _iso_clauses(manifest: dict[str, Any]) -> dict[str, list[str]]:
    clauses = manifest.get("iso20000") or {}
    return {str(edition): [str(c) for c in items] for edition, items in clauses.items()}
