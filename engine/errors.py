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
     |    +-- ConformanceGaps      a valid folder no longer meets ISO requirements it claims
     +-- NoMatch                   a message matched no waiting instance and no start event
     +-- ProcessFailed             a script, condition or connector failed while running steps
          +-- ScriptFailed         a script broke a sandbox rule, raised, or ran out of time
          +-- ConnectorFailed      a service task's connector failed (cause kept)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Conflict",
    "ConformanceGaps",
    "ConnectorFailed",
    "DeployRejected",
    "EngineError",
    "FieldError",
    "FormInvalid",
    "Gap",
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


@dataclass(frozen=True)
class Gap:
    """An ISO 20000 requirement a process model claims that none of its elements meets."""

    requirement: str
    text: str
    clauses: dict[str, str]  # edition -> clause, e.g. {"2018": "8.6.1"}
    elements: tuple[str, ...]  # the element ids the manifest names for it
    message: str  # a plain sentence naming the requirement, its clauses and what is missing

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as stored on a version that was deployed with the gap accepted."""
        return {"requirement": self.requirement, "text": self.text,
                "clauses": dict(self.clauses), "elements": list(self.elements),
                "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gap:
        return cls(str(data.get("requirement", "")), str(data.get("text", "")),
                   {str(k): str(v) for k, v in (data.get("clauses") or {}).items()},
                   tuple(str(e) for e in data.get("elements") or ()),
                   str(data.get("message", "")))


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


class ConformanceGaps(InvalidInput):
    """The folder is valid but no longer meets requirements its manifest claims.

    Distinct from ``DeployRejected``: the owner may deploy anyway by accepting the gaps
    (``accept_gaps``), and the accepted gaps are recorded on the new version.
    """

    code = "conformance_gaps"

    def __init__(self, key: str, gaps: list[Gap]) -> None:
        super().__init__(f"process model {key!r} no longer meets {len(gaps)} ISO 20000 "
                         f"requirement(s) it claims; deploy with accept_gaps to accept them")
        self.key = key
        self.gaps = gaps


class NoMatch(EngineError):
    code = "no_match"


class ProcessFailed(EngineError):
    code = "process_failed"


class ScriptFailed(ProcessFailed):
    code = "script_failed"


class ConnectorFailed(ProcessFailed):
    code = "connector_failed"
