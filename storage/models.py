"""SQLAlchemy 2.0 tables: process models and versions, instances and their index rows,
audit trail, users, roles and tokens.

The instance row holds the workflow state without the spec (the spec is shared per version);
``human_task``, ``timer`` and ``message_subscription`` are indexes rebuilt from that state on
every save, so the inbox, the timer worker and message routing are indexed queries rather
than scans of every instance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UtcDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ProcessModel(Base):
    __tablename__ = "process_model"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_role: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="model", order_by="ProcessVersion.number"
    )


class ProcessVersion(Base):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("model_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("process_model.id"))
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Process ids reached through call activities that live in other models.
    called_processes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # ISO 20000 requirements this version does not meet, accepted at deploy (None: none).
    accepted_gaps: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    model: Mapped[ProcessModel] = relationship(back_populates="versions")
    files: Mapped[list[VersionFile]] = relationship(
        back_populates="version", order_by="VersionFile.name"
    )


class VersionFile(Base):
    """A file exactly as deployed (bytes), so downloads are byte-for-byte."""

    __tablename__ = "version_file"
    __table_args__ = (UniqueConstraint("version_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)

    version: Mapped[ProcessVersion] = relationship(back_populates="files")


class ProcessDefinitionIndex(Base):
    """Which model's latest version defines an executable process id, and its message starts.

    Rewritten on deploy; lets call activities and message start events resolve without
    parsing every deployed file.
    """

    __tablename__ = "process_definition"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("process_model.id"), index=True)
    start_message: Mapped[str | None] = mapped_column(String(200), index=True)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_instance_status_version", "status", "version_id"),
        UniqueConstraint("business_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    # Versions of called processes pinned at start: {process_id: version_id}.
    called_versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    business_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    # SpiffWorkflow state without the spec, zlib-compressed JSON (see engine.instance_store).
    state: Mapped[bytes] = mapped_column(LargeBinary)
    serializer_version: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # Record fields projected from task data (manifest "record") for search and the inbox.
    title: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[str | None] = mapped_column(String(50), index=True)
    service: Mapped[str | None] = mapped_column(String(200))
    assignee_group: Mapped[str | None] = mapped_column(String(200))
    record_status: Mapped[str | None] = mapped_column(String(100))

    version: Mapped[ProcessVersion] = relationship()


class HumanTask(Base):
    """A ready user task: the inbox is one indexed query on this table."""

    __tablename__ = "human_task"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the task's guid
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    spec_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    lane: Mapped[str | None] = mapped_column(String(100), index=True)
    assignee: Mapped[str | None] = mapped_column(String(100), index=True)
    # The version whose files hold the form (a called process's forms live in its own model).
    form_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    form_schema: Mapped[str | None] = mapped_column(String(255))
    instructions: Mapped[str | None] = mapped_column(Text)
    form_ui_schema: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class Timer(Base):
    """A due time the timer worker must act on (rebuilt from the instance state on save)."""

    __tablename__ = "timer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_guid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    __table_args__ = (
        Index("ix_subscription_match", "message_name", "correlation_key", "correlation_value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_guid: Mapped[str] = mapped_column(String(36))
    message_name: Mapped[str] = mapped_column(String(200))
    # One row per correlation property; an instance without correlation gets key "".
    correlation_key: Mapped[str] = mapped_column(String(200))
    correlation_value: Mapped[str] = mapped_column(String(500))


class ProcessSchedule(Base):
    """When a periodic process (timer start event) next starts an instance; one per model.

    Set at deploy (``engine.schedules``); the timer worker starts an instance of the model's
    latest version once ``next_due_at`` has passed and moves it on (None: no more).
    """

    __tablename__ = "process_schedule"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("process_model.id"), unique=True)
    # The version whose timer start event set this schedule.
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    element_id: Mapped[str] = mapped_column(String(200))
    expression_kind: Mapped[str] = mapped_column(String(20))  # timeCycle, timeDate, timeDuration
    expression: Mapped[str] = mapped_column(String(500))  # the evaluated ISO 8601 value
    anchor_at: Mapped[datetime] = mapped_column(UtcDateTime())  # a cycle without start: deploy
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    occurrences_started: Mapped[int] = mapped_column(Integer, default=0)
    last_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL")
    )


class InstanceLink(Base):
    """A relation between two instances made by a message or signal (incident -> problem)."""

    __tablename__ = "instance_link"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    via: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Append-only: nothing updates or deletes these rows."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    task_name: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Notification(Base):
    """The outbox the ``notify`` connector writes to; a sender delivers and marks rows."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(300))
    recipient_role: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BusinessKeyCounter(Base):
    __tablename__ = "business_key_counter"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Group(Base):
    """A role. Lane names in diagrams are group names."""

    __tablename__ = "app_group"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "group_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("app_group.id", ondelete="CASCADE"))


class ApiToken(Base):
    """An API token, stored as the SHA-256 of a 256-bit random secret (never the secret)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
