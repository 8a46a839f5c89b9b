"""Messages and signals between the outside world and instances, and between instances.

A message goes to exactly the instances whose subscription rows match its name and all of
its correlation values (an indexed lookup, not a scan of instances), or, when none waits,
starts the process whose start event catches it. Nothing is dropped silently: an outside
message that matches nothing is an error for its sender; an event an instance throws that
nobody takes is written to that instance's audit trail.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.access import Actor
from engine.errors import InvalidInput, NoMatch
from engine.instance_store import LoadedInstance
from engine.stepping import audit, step
from storage.models import (
    InstanceLink,
    MessageSubscription,
    ProcessDefinitionIndex,
    ProcessVersion,
)

if TYPE_CHECKING:
    from engine.runtime import Runtime

__all__ = ["SIGNAL_PREFIX", "EventRouter", "MessageOutcome"]

SIGNAL_PREFIX = "signal:"
# An instance that throws to another that throws back must not recurse forever.
_MAX_ROUTING_DEPTH = 8


@dataclass(frozen=True)
class MessageOutcome:
    received_by: list[int] = field(default_factory=list)
    started: int | None = None


class EventRouter:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._local = threading.local()

    def deliver_message(
        self,
        name: str,
        correlation: Mapping[str, Any],
        payload: Mapping[str, Any],
        actor: Actor,
    ) -> MessageOutcome:
        """Deliver an outside message; raises ``NoMatch`` when nothing takes it."""
        _check_message(name, correlation, payload)
        with self._runtime.db.write() as session:
            result = self._deliver(session, name, dict(correlation), dict(payload), actor, None)
            if not result.received_by and result.started is None:
                raise NoMatch(_no_match_message(name, correlation))
            return result

    def route_thrown(
        self, session: Session, source_id: int, thrown: list[spiff.ThrownEvent], actor: Actor
    ) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth >= _MAX_ROUTING_DEPTH:
            for event in thrown:
                audit(session, source_id, actor.name, "event_not_routed", event=event.name,
                      reason="routing depth limit reached")
            return
        self._local.depth = depth + 1
        try:
            for event in thrown:
                self._route_one(session, source_id, event, actor)
        finally:
            self._local.depth = depth

    def _route_one(
        self, session: Session, source_id: int, event: spiff.ThrownEvent, actor: Actor
    ) -> None:
        payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
        if event.kind == "signal":
            name, correlation = SIGNAL_PREFIX + event.name, {}
        else:
            name, correlation = event.name, event.correlations
        result = self._deliver(session, name, correlation, payload, actor, source_id)
        targets = [*result.received_by, *([result.started] if result.started else [])]
        audit(session, source_id, actor.name,
              "event_routed" if targets else "event_not_routed",
              event=event.name, event_kind=event.kind, targets=targets)

    def _deliver(
        self,
        session: Session,
        name: str,
        correlation: dict[str, Any],
        payload: dict[str, Any],
        actor: Actor,
        source_id: int | None,
    ) -> MessageOutcome:
        received = []
        for instance_id, guid in find_subscribers(session, name, correlation):
            if instance_id == source_id:
                continue
            loaded = self._runtime.store.load(session, instance_id)
            if loaded.row.status != "running":
                continue
            self._hand_over(session, loaded, guid, name, correlation, payload, actor)
            _link(session, source_id, instance_id, name)
            received.append(instance_id)
        if received or name.startswith(SIGNAL_PREFIX):
            return MessageOutcome(received_by=received)
        started = self._start_by_message(session, name, correlation, payload, actor)
        if started is not None:
            _link(session, source_id, started, name)
        return MessageOutcome(started=started)

    def _hand_over(
        self,
        session: Session,
        loaded: LoadedInstance,
        guid: str,
        name: str,
        correlation: dict[str, Any],
        payload: dict[str, Any],
        actor: Actor,
    ) -> None:
        workflow = loaded.workflow
        if name.startswith(SIGNAL_PREFIX):
            action = lambda: spiff.deliver_signal(  # noqa: E731
                workflow, name.removeprefix(SIGNAL_PREFIX), payload)
        else:
            action = lambda: spiff.deliver_message(workflow, guid, name, payload, correlation)  # noqa: E731
        audit(session, loaded.row.id, actor.name, "message_received", message=name,
              correlation=correlation, payload=payload)
        step(session, loaded, actor.name, action)
        self._runtime.finish(session, loaded, actor)

    def _start_by_message(
        self,
        session: Session,
        name: str,
        correlation: dict[str, Any],
        payload: dict[str, Any],
        actor: Actor,
    ) -> int | None:
        version = _message_start_version(session, name)
        if version is None:
            return None

        def on_started(loaded: LoadedInstance) -> None:
            waiting = [w for w in spiff.waiting_messages(loaded.workflow) if w.message_name == name]
            if waiting:
                audit(session, loaded.row.id, actor.name, "message_received", message=name,
                      correlation=correlation, payload=payload)
                step(session, loaded, actor.name, lambda: spiff.deliver_message(
                    loaded.workflow, waiting[0].guid, name, payload, correlation))

        loaded = self._runtime.start_in_session(
            session, version, {}, actor, None, on_started=on_started
        )
        return loaded.row.id


def find_subscribers(
    session: Session, name: str, correlation: Mapping[str, Any]
) -> list[tuple[int, str]]:
    """(instance id, task guid) of catch events whose correlation equals ``correlation``."""
    wanted = {str(k): str(v) for k, v in correlation.items()}
    query = select(
        MessageSubscription.instance_id, MessageSubscription.task_guid,
        MessageSubscription.correlation_key, MessageSubscription.correlation_value,
    ).where(MessageSubscription.message_name == name)
    if wanted:
        key, value = sorted(wanted.items())[0]
        query = query.where(MessageSubscription.task_guid.in_(
            select(MessageSubscription.task_guid).where(
                MessageSubscription.message_name == name,
                MessageSubscription.correlation_key == key,
                MessageSubscription.correlation_value == value,
            )
        ))
    expected: dict[tuple[int, str], dict[str, str]] = {}
    for instance_id, guid, key, value in session.execute(query):
        expected.setdefault((instance_id, guid), {})[key] = value
    target = wanted or {"": ""}
    return sorted(pair for pair, props in expected.items() if props == target)


def _message_start_version(session: Session, name: str) -> ProcessVersion | None:
    model_id = session.scalar(
        select(ProcessDefinitionIndex.model_id)
        .where(ProcessDefinitionIndex.start_message == name).limit(1)
    )
    if model_id is None:
        return None
    return session.scalar(
        select(ProcessVersion).where(ProcessVersion.model_id == model_id)
        .order_by(ProcessVersion.number.desc()).limit(1)
    )


def _link(session: Session, source_id: int | None, target_id: int, via: str) -> None:
    if source_id is not None:
        session.add(InstanceLink(source_id=source_id, target_id=target_id, via=via,
                                 created_at=clock.now()))


def _check_message(name: str, correlation: Any, payload: Any) -> None:
    if not name or name.startswith(SIGNAL_PREFIX):
        raise InvalidInput(f"invalid message name {name!r}")
    if not isinstance(correlation, Mapping) or not isinstance(payload, Mapping):
        raise InvalidInput("correlation and payload must be JSON objects")
    for key, value in correlation.items():
        if isinstance(value, dict | list):
            raise InvalidInput(f"correlation value of {key!r} must be a string or number")


def _no_match_message(name: str, correlation: Mapping[str, Any]) -> str:
    values = ", ".join(f"{k}={v}" for k, v in sorted(correlation.items())) or "no correlation"
    return f"no instance waits for message {name!r} with {values}, and no process starts on it"
