"""A process folder's ``manifest.json``: what it must say, read into a small dataclass.

The manifest is written by hand next to the diagrams (see ``bpmn/README.md``), so every
mistake in it is reported as a deploy ``Problem`` with the line of the offending key, and all
of them at once: a process owner fixes the file in one go instead of one error per deploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Problem

__all__ = [
    "MANIFEST_FILE",
    "RECORD_FIELDS",
    "Manifest",
    "Requirement",
    "check_manifest",
    "manifest_process_id",
]

MANIFEST_FILE = "manifest.json"

#: The instance record fields a manifest may project task data into (``record`` keys).
RECORD_FIELDS = ("title", "priority", "service", "assignee_group", "status")

_PREFIX = re.compile(r"[A-Z]{2,5}")
_REQUIRED_TEXT = ("name", "process_id")
_KNOWN_KEYS = (*_REQUIRED_TEXT, "owner_role", "iso20000", "business_key_prefix", "record",
               "requirements")
_REQUIREMENT_ID = re.compile(r"[a-z][a-z0-9_.-]{0,79}")


@dataclass(frozen=True)
class Requirement:
    """An ISO 20000 requirement the process claims, and the BPMN elements that meet it.

    ``elements`` lists element ids; an element can also claim a requirement itself with
    ``<spiffworkflow:property name="iso.requirement" value="<id>"/>``.
    """

    id: str
    text: str
    clauses: dict[str, str]
    elements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of one process folder."""

    name: str
    process_id: str
    owner_role: str
    iso20000: dict[str, list[str]]
    business_key_prefix: str | None = None
    record: dict[str, str] = field(default_factory=dict)
    requirements: tuple[Requirement, ...] = ()


def check_manifest(
    files: Mapping[str, bytes], known_roles: Collection[str]
) -> tuple[Manifest | None, list[Problem]]:
    """Read and check ``manifest.json``; the manifest is ``None`` when any problem was found."""
    raw = files.get(MANIFEST_FILE)
    if raw is None:
        return None, [_problem(None, "the folder has no manifest.json")]
    data, problem = _load(raw)
    if problem is not None:
        return None, [problem]
    if not isinstance(data, dict):
        return None, [_problem(1, "manifest.json must hold a JSON object")]
    lines = _KeyLines(raw)
    problems = [
        *_unknown_keys(data, lines),
        *_required_text(data, lines),
        *_owner_role(data, lines, known_roles),
        *_iso20000(data, lines),
        *_prefix(data, lines),
        *_record(data, lines),
        *_requirements(data, lines),
    ]
    if problems:
        return None, problems
    return _build(data), []


def _problem(line: int | None, message: str) -> Problem:
    return Problem(MANIFEST_FILE, line, None, message)


def _load(raw: bytes) -> tuple[Any, Problem | None]:
    """Decode and parse the JSON text, reporting where it breaks."""
    try:
        return json.loads(raw.decode("utf-8-sig")), None
    except UnicodeDecodeError:
        return None, _problem(None, "manifest.json is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return None, _problem(exc.lineno, f"manifest.json is not valid JSON: {exc.msg}")


class _KeyLines:
    """Finds the line a top-level key is written on (good enough for a hand-written file)."""

    def __init__(self, raw: bytes) -> None:
        self._lines = raw.decode("utf-8-sig", errors="replace").splitlines()

    def __call__(self, key: str) -> int | None:
        needle = json.dumps(key)
        return next((n for n, text in enumerate(self._lines, 1) if needle in text), None)


def _unknown_keys(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    # A misspelt optional key would otherwise be ignored without a word.
    known = ", ".join(_KNOWN_KEYS)
    return [
        _problem(lines(key), f"unknown key {key!r}; a manifest knows {known}")
        for key in data
        if key not in _KNOWN_KEYS
    ]


def _required_text(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    problems = []
    for key in _REQUIRED_TEXT:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(_problem(lines(key), f"{key!r} is required and must be a text"))
    return problems


def _owner_role(
    data: dict[str, Any], lines: _KeyLines, known_roles: Collection[str]
) -> list[Problem]:
    role = data.get("owner_role")
    if not isinstance(role, str):
        return [_problem(lines("owner_role"), "'owner_role' is required and must be a role name")]
    if role not in known_roles:
        known = ", ".join(sorted(known_roles)) or "none"
        return [_problem(lines("owner_role"), f"owner_role {role!r} is not a known role; "
                                              f"known roles: {known}")]
    return []


def _iso20000(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    clauses = data.get("iso20000")
    line = lines("iso20000")
    if not isinstance(clauses, dict):
        return [_problem(line, "'iso20000' is required: an object of edition -> list of clauses, "
                               'e.g. {"2018": ["8.6.1"]}')]
    return [
        _problem(line, f"iso20000 edition {edition!r} must list its clauses as texts")
        for edition, listed in clauses.items()
        if not _is_list_of(listed, str)
    ]


def _prefix(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    prefix = data.get("business_key_prefix")
    if prefix is None or (isinstance(prefix, str) and _PREFIX.fullmatch(prefix)):
        return []
    return [_problem(lines("business_key_prefix"),
                     f"business_key_prefix {prefix!r} must be 2 to 5 capital letters A-Z")]


def _record(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    record = data.get("record")
    line = lines("record")
    if record is None:
        return []
    if not isinstance(record, dict):
        return [_problem(line, "'record' must be an object of record field -> task data key")]
    fields = ", ".join(RECORD_FIELDS)
    problems = [
        _problem(line, f"record field {name!r} is unknown; record fields are {fields}")
        for name in record
        if name not in RECORD_FIELDS
    ]
    problems += [
        _problem(line, f"record field {name!r} must name a task data key (a text)")
        for name, key in record.items()
        if not isinstance(key, str) or not key
    ]
    return problems


def _requirements(data: dict[str, Any], lines: _KeyLines) -> list[Problem]:
    listed = data.get("requirements")
    line = lines("requirements")
    if listed is None:
        return []
    if not isinstance(listed, list):
        return [_problem(line, "'requirements' must be a list of requirement objects")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, item in enumerate(listed, 1):
        problems += [_problem(line, f"requirement {number}: {m}")
                     for m in _requirement_errors(item, seen)]
    return problems


def _requirement_errors(item: Any, seen: set[str]) -> list[str]:
    if not isinstance(item, dict):
        return ["must be an object with id, text, clauses and elements"]
    errors = []
    rid = item.get("id")
    if not isinstance(rid, str) or not _REQUIREMENT_ID.fullmatch(rid):
        errors.append("'id' must be lower-case letters, digits, '.', '_' or '-'")
    elif rid in seen:
        errors.append(f"id {rid!r} is listed twice")
    else:
        seen.add(rid)
    if not isinstance(item.get("text"), str) or not item["text"].strip():
        errors.append("'text' must say in a sentence what the standard asks")
    clauses = item.get("clauses")
    if not isinstance(clauses, dict) or not clauses or not all(
        isinstance(v, str) for v in clauses.values()
    ):
        errors.append("'clauses' must map an edition to a clause, e.g. {\"2018\": \"8.6.1\"}")
    if not _is_list_of(item.get("elements", []), str):
        errors.append("'elements' must be a list of BPMN element ids")
    unknown = set(item) - {"id", "text", "clauses", "elements"}
    if unknown:
        errors.append(f"unknown key(s) {', '.join(sorted(unknown))}")
    return errors


def _is_list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _build(data: dict[str, Any]) -> Manifest:
    """Build the dataclass from data that passed every check above."""
    return Manifest(
        name=data["name"],
        process_id=data["process_id"],
        owner_role=data["owner_role"],
        iso20000={str(k): list(v) for k, v in data["iso20000"].items()},
        business_key_prefix=data.get("business_key_prefix"),
        record=dict(data.get("record") or {}),
        requirements=tuple(
            Requirement(r["id"], r["text"], dict(r["clauses"]), tuple(r.get("elements", [])))
            for r in data.get("requirements") or []
        ),
    )


def manifest_process_id(files: Mapping[str, bytes]) -> tuple[str | None, int | None]:
    """The ``process_id`` the manifest names and its line, read leniently (None if unreadable).

    Used to check the id against the diagrams even when other manifest keys are wrong.
    """
    raw = files.get(MANIFEST_FILE)
    data, problem = _load(raw) if raw is not None else (None, None)
    if problem is not None or not isinstance(data, dict):
        return None, None
    process_id = data.get("process_id")
    if not isinstance(process_id, str) or not process_id:
        return None, None
    return process_id, _KeyLines(raw or b"")("process_id")
