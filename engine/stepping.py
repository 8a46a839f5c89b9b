"""Running an instance forward after something happened to it, and what it throws out.

A failure in a script, condition or connector does not lose what the user did: the instance
is saved as ``failed`` with the reason, and the audit trail says which task broke.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.errors import EngineError, ProcessFailed
from engine.instance_store import LoadedInstance
from engine.script_sandbox import find_process_failure
from storage.models import AuditEvent

__all__ = ["audit", "failure_message", "step"]


def audit(
    session: Session,
    instance_id: int | None,
    actor: str,
    kind: str,
    task_name: str | None = None,
    **details: Any,
) -> None:
    """Append one audit event (the trail is append-only)."""
    session.add(
        AuditEvent(instance_id=instance_id, at=clock.now(), actor=actor, kind=kind,
                   task_name=task_name, details=details)
    )


def step(
    session: Session, loaded: LoadedInstance, actor: str, action: Callable[[], None]
) -> None:
    """Run ``action`` on the workflow and then its engine steps, recording a failure."""
    was_completed = spiff.is_completed(loaded.workflow)
    try:
        action()
        spiff.run_steps(loaded.workflow)
    except ProcessFailed as exc:  # raised by the sandbox where Spiff does not wrap it
        _mark_failed(session, loaded, actor, failure_message(exc))
        return
    except EngineError:
        raise
    except Exception as exc:  # a script, condition or connector of the diagram broke
        _mark_failed(session, loaded, actor, failure_message(exc))
        return
    if not was_completed and spiff.is_completed(loaded.workflow):
        audit(session, loaded.row.id, actor, "instance_completed")


def _mark_failed(session: Session, loaded: LoadedInstance, actor: str, message: str) -> None:
    loaded.row.status, loaded.row.error = "failed", message
    loaded.row.ended_at = clock.now()
    audit(session, loaded.row.id, actor, "instance_failed", error=message)


def failure_message(exc: BaseException) -> str:
    """A plain sentence naming the task that failed and why, without a stack trace."""
    failure = find_process_failure(exc)
    spec = getattr(exc, "task_spec", None) or getattr(getattr(exc, "task", None), "task_spec", None)
    where = ""
    if spec is not None:
        where = f"task {getattr(spec, 'bpmn_name', None) or getattr(spec, 'name', '?')!r}: "
    if failure is not None:
        return f"{where}{failure}"
    return f"{where}{type(exc).__name__}: {exc}"
