"""Loading and saving one instance inside a unit of work.

Saving writes the state with an optimistic lock (``WHERE lock_version = :seen``) and rebuilds
the instance's index rows (ready user tasks, timers, message subscriptions) from that state,
so the indexes can never disagree with what the workflow will do.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from engine import clock, spiff
from engine.connectors import ConnectorContext
from engine.errors import NotFound, StaleInstance
from engine.process_cache import ProcessCache
from storage.models import (
    HumanTask,
    MessageSubscription,
    Notification,
    ProcessInstance,
    ProcessVersion,
    Timer,
)

__all__ = ["InstanceStore", "LoadedInstance"]

# A correlation value that no message can carry: the instance could not compute its own.
_UNRESOLVED = "\x00unresolved"
_COMPRESSION_LEVEL = 6
_RECORD_COLUMNS = {
    "title": "title",
    "priority": "priority",
    "service": "service",
    "assignee_group": "assignee_group",
    "status": "record_status",
}


@dataclass
class LoadedInstance:
    """An instance restored for one operation, with what saving it needs."""

    row: ProcessInstance
    version: ProcessVersion
    parsed: spiff.ParsedProcess
    workflow: Any
    connector_context: ConnectorContext
    seen_lock_version: int
    # What the index rows in the database say right now (empty for a new instance).
    indexed: IndexSnapshot = field(default_factory=lambda: IndexSnapshot())
    # process id -> version id holding its files (the main process and the called ones)
    version_of_process: dict[str, int] = field(default_factory=dict)


ScriptEngineFactory = Callable[[ConnectorContext], spiff.PythonScriptEngine]


class InstanceStore:
    def __init__(self, cache: ProcessCache, script_engine_factory: ScriptEngineFactory) -> None:
        self._cache = cache
        self._script_engine = script_engine_factory

    # ------------------------------------------------------------------ load

    def load(self, session: Session, instance_id: int) -> LoadedInstance:
        row = session.get(
            ProcessInstance, instance_id, options=[joinedload(ProcessInstance.version)]
        )
        if row is None:
            raise NotFound(f"no instance with id {instance_id}")
        version = row.version
        parsed = self._cache.parsed(session, version, row.called_versions)
        context = ConnectorContext(instance_id=str(row.id), business_key=row.business_key)
        workflow = spiff.load_state(_decode(row.state), parsed, self._script_engine(context))
        running = row.status == "running"
        ready = spiff.ready_user_tasks(workflow) if running else []
        return LoadedInstance(
            row, version, parsed, workflow, context, row.lock_version,
            _snapshot(workflow, ready, running), _version_map(version, row.called_versions),
        )

    def create(
        self,
        session: Session,
        version: ProcessVersion,
        called_versions: dict[str, int],
        data: dict[str, Any],
        business_key: str,
        started_by: str,
    ) -> LoadedInstance:
        """A new instance row (flushed, so it has an id) with a fresh, unstepped workflow."""
        parsed = self._cache.parsed(session, version, called_versions)
        now = clock.now()
        row = ProcessInstance(
            version_id=version.id, called_versions=called_versions, business_key=business_key,
            status="running", state=b"", serializer_version=spiff.SERIALIZER_VERSION,
            lock_version=0, started_by=started_by, started_at=now, updated_at=now,
        )
        row.version = version
        session.add(row)
        session.flush()
        context = ConnectorContext(instance_id=str(row.id), business_key=business_key)
        workflow = spiff.new_workflow(parsed, self._script_engine(context), data)
        return LoadedInstance(
            row, version, parsed, workflow, context, 0, IndexSnapshot(),
            _version_map(version, called_versions),
        )

    # ------------------------------------------------------------------ save

    def save(self, session: Session, loaded: LoadedInstance) -> None:
        """Write state and index rows; raises ``StaleInstance`` if another writer came first."""
        row, workflow = loaded.row, loaded.workflow
        now = clock.now()
        if row.status == "running" and spiff.is_completed(workflow):
            row.status, row.ended_at = "completed", now
        values = {
            "state": _encode(spiff.dump_state(workflow)),
            "status": row.status,
            "ended_at": row.ended_at,
            "error": row.error,
            "updated_at": now,
            "lock_version": loaded.seen_lock_version + 1,
            **_record_values(loaded),
        }
        if loaded.seen_lock_version == 0:
            # The row was inserted in this transaction; nobody else can have seen it.
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
        else:
            self._update_locked(session, loaded, values)
        self._rebuild_indexes(session, loaded)
        self._write_outbox(session, loaded)
        loaded.seen_lock_version += 1

    @staticmethod
    def _update_locked(session: Session, loaded: LoadedInstance, values: dict[str, Any]) -> None:
        result = session.execute(
            update(ProcessInstance)
            .where(
                ProcessInstance.id == loaded.row.id,
                ProcessInstance.lock_version == loaded.seen_lock_version,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleInstance(
                f"instance {loaded.row.id} was changed by someone else; reload and try again"
            )
        # The row already holds these values in the database: record them as committed so
        # the session does not write them a second time at its next flush.
        for name, value in values.items():
            set_committed_value(loaded.row, name, value)

    def _rebuild_indexes(self, session: Session, loaded: LoadedInstance) -> None:
        """Rewrite only the index rows whose source changed since the instance was loaded."""
        instance_id = loaded.row.id
        running = loaded.row.status == "running"
        ready = spiff.ready_user_tasks(loaded.workflow) if running else []
        after = _snapshot(loaded.workflow, ready, running)
        before = loaded.indexed
        gone = before.ready - after.ready
        if gone:
            session.execute(delete(HumanTask).where(HumanTask.id.in_(sorted(gone))))
        now = clock.now()
        session.add_all(
            _human_task_row(loaded, task, now) for task in ready if task.guid not in before.ready
        )
        if before.timers != after.timers:
            session.execute(delete(Timer).where(Timer.instance_id == instance_id))
            session.add_all(
                Timer(instance_id=instance_id, task_guid=guid, name=name, due_at=due)
                for guid, name, due in sorted(after.timers)
            )
        if before.messages != after.messages:
            session.execute(
                delete(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
            )
            for waiting in after.messages:
                session.add_all(_subscription_rows(instance_id, waiting))
        session.flush()
        loaded.indexed = after

    @staticmethod
    def _write_outbox(session: Session, loaded: LoadedInstance) -> None:
        now = clock.now()
        for note in loaded.connector_context.outbox:
            session.add(
                Notification(
                    instance_id=loaded.row.id, channel=note.channel, recipient=note.recipient,
                    recipient_role=note.recipient_role, subject=note.subject, body=note.body,
                    created_at=now,
                )
            )
        loaded.connector_context.outbox.clear()


@dataclass(frozen=True)
class IndexSnapshot:
    """What an instance's index rows say; compared on save so unchanged rows are not touched."""

    ready: frozenset[str] = frozenset()
    timers: frozenset[tuple[str, str | None, datetime]] = frozenset()
    messages: frozenset[spiff.WaitingMessage] = frozenset()


def _snapshot(
    workflow: Any, ready: list[spiff.ReadyUserTask], running: bool
) -> IndexSnapshot:
    if not running:
        return IndexSnapshot()
    return IndexSnapshot(
        ready=frozenset(task.guid for task in ready),
        timers=frozenset((t.guid, t.name, t.due_at) for t in spiff.waiting_timers(workflow)),
        messages=frozenset(spiff.waiting_messages(workflow)),
    )


def _human_task_row(
    loaded: LoadedInstance, task: spiff.ReadyUserTask, now: datetime
) -> HumanTask:
    return HumanTask(
        id=task.guid, instance_id=loaded.row.id, spec_name=task.spec_name, title=task.title,
        lane=task.lane, assignee=None,
        form_version_id=loaded.version_of_process.get(task.process_id, loaded.version.id),
        form_schema=task.form_schema, form_ui_schema=task.form_ui_schema,
        instructions=task.instructions, created_at=now, due_at=None,
    )


def _encode(state: str) -> bytes:
    # The JSON is mostly field names and task ids: compression takes it to about a third
    # for some tens of microseconds, and keeps open instances within the 8 KB budget.
    return zlib.compress(state.encode(), _COMPRESSION_LEVEL)


def _decode(stored: bytes) -> str:
    return zlib.decompress(stored).decode()


def _version_map(version: ProcessVersion, called: dict[str, int]) -> dict[str, int]:
    return {version.process_id: version.id, **called}


def _subscription_rows(
    instance_id: int, waiting: spiff.WaitingMessage
) -> list[MessageSubscription]:
    if not waiting.correlations:
        pairs = [("", "")]
    else:
        pairs = [(k, _UNRESOLVED if v is None else v) for k, v in waiting.correlations]
    return [
        MessageSubscription(
            instance_id=instance_id, task_guid=waiting.guid, message_name=waiting.message_name,
            correlation_key=key, correlation_value=value,
        )
        for key, value in pairs
    ]


def _record_values(loaded: LoadedInstance) -> dict[str, Any]:
    """Project task data into the record columns the manifest names (``record``)."""
    mapping: dict[str, str] = loaded.version.manifest.get("record", {}) or {}
    if not mapping:
        return {}
    data = spiff.workflow_data(loaded.workflow)
    values: dict[str, Any] = {}
    for field_name, data_key in mapping.items():
        column = _RECORD_COLUMNS.get(field_name)
        if column is None or data_key not in data:
            continue
        value = data[data_key]
        # Cut to the column's width: a long value in task data must never fail the save.
        width: int = getattr(ProcessInstance.__table__.c[column].type, "length", 500)
        values[column] = None if value is None else str(value)[:width]
    return values
