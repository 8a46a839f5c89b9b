"""The engine's errors: one tree, no HTTP status codes (those live in ``api/errors.py``).

::

    EngineError
     +-- NotFound                  unknown process, version, instance, task or message target
     +-- NotAllowed                the actor may not do this (lane role, assignee, owner role)
     +-- Conflict                  the world moved on under the caller
     |    +-- StaleInstance        another writer saved the instance first (optimistic lock)
     |    +-- TaskNotReady         the task was completed, cancelled or never became ready
     |    +-- InstanceNotRunning   the instance is completed, cancelled or failed
     +-- InvalidInput              the request itself is wrong
     |    +-- FormInvalid          form data does not match the task's JSON Schema (field errors)
     |    +-- DeployRejected       a process folder failed validation (every problem listed)
     +-- NoMatch                   a message matched no waiting instance and no start event
     +-- ProcessFailed             a script, condition or connector failed while running steps
          +-- ScriptFailed         a script broke a sandbox rule, raised, or ran out of time
          +-- ConnectorFailed      a service task's connector failed (cause kept)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Conflict",
    "ConnectorFailed",
    "DeployRejected",
    "EngineError",
    "FieldError",
    "FormInvalid",
    "InstanceNotRunning",
    "InvalidInput",
    "NoMatch",
    "NotAllowed",
    "NotFound",
    "Problem",
    "ProcessFailed",
    "ScriptFailed",
    "StaleInstance",
    "TaskNotReady",
]


@dataclass(frozen=True)
class FieldError:
    """One invalid form field: a JSON pointer into the submitted data and a plain sentence."""

    field: str
    message: str


@dataclass(frozen=True)
class Problem:
    """One reason a process folder cannot be deployed."""

    file: str | None
    line: int | None
    element_id: str | None
    message: str

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        element = f" [{self.element_id}]" if self.element_id else ""
        return f"{where or '-'}{element}: {self.message}"


class EngineError(Exception):
    """Base of every error the engine raises on purpose. ``code`` is stable for clients."""

    code = "engine_error"


class NotFound(EngineError):
    code = "not_found"


class NotAllowed(EngineError):
    code = "not_allowed"


class Conflict(EngineError):
    code = "conflict"


class StaleInstance(Conflict):
    code = "stale_instance"


class TaskNotReady(Conflict):
    code = "task_not_ready"


class InstanceNotRunning(Conflict):
    code = "instance_not_running"


class InvalidInput(EngineError):
    code = "invalid_input"


class FormInvalid(InvalidInput):
    code = "form_invalid"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} field(s) invalid")
        self.errors = errors


class DeployRejected(InvalidInput):
    code = "deploy_rejected"

    def __init__(self, key: str, problems: list[Problem]) -> None:
        super().__init__(f"process model {key!r} rejected: {len(problems)} problem(s)")
        self.key = key
        self.problems = problems


class NoMatch(EngineError):
    code = "no_match"


class ProcessFailed(EngineError):
    code = "process_failed"


class ScriptFailed(ProcessFailed):
    code = "script_failed"


class ConnectorFailed(ProcessFailed):
    code = "connector_failed"
