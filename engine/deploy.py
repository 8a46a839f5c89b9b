"""Deploying process folders: validate everything first, then store a new version (or nothing).

Identical content is a no-op; changed content becomes the next version number. Running
instances keep the version they started on.

A valid folder that no longer meets an ISO 20000 requirement its manifest claims
(``engine.conformance``) is refused with ``ConformanceGaps`` unless the caller accepts the
gaps; the accepted gaps are then stored on the new version (``accepted_gaps``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine import clock, spiff
from engine.access import Actor
from engine.conformance import check_conformance
from engine.deploy_checks import CheckedFolder, check_process_folder
from engine.errors import ConformanceGaps, DeployRejected, Gap, NotAllowed, Problem
from engine.runtime import counter_prefix
from engine.schedules import sync_schedule
from engine.xml_problems import Element, called_ids, executable_ids
from storage.models import (
    AuditEvent,
    BusinessKeyCounter,
    Group,
    ProcessDefinitionIndex,
    ProcessModel,
    ProcessVersion,
    VersionFile,
)

__all__ = [
    "DEPLOYABLE_SUFFIXES",
    "DeployOutcome",
    "content_hash",
    "deploy_files",
    "known_roles",
    "read_folder",
    "register_roles",
]

DEPLOYABLE_SUFFIXES = (".bpmn", ".dmn", ".json")
_MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class DeployOutcome:
    key: str
    version: int
    created: bool  # False when the content was identical to the latest version
    # Requirements the version does not meet, accepted by whoever deployed it.
    accepted_gaps: tuple[Gap, ...] = ()


def read_folder(folder: Path) -> dict[str, bytes]:
    """The deployable files of a process folder (name -> bytes); other files are ignored."""
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in DEPLOYABLE_SUFFIXES
    }


def content_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def known_roles(session: Session) -> set[str]:
    return set(session.scalars(select(Group.name)))


def register_roles(session: Session, roles: Mapping[str, str]) -> None:
    """Create the roles (groups) a library declares in its ``roles.json``; keep existing ones."""
    existing = known_roles(session)
    for name, description in roles.items():
        if name not in existing:
            session.add(Group(name=name, description=description))
    session.flush()


def deploy_files(
    session: Session, key: str, files: Mapping[str, bytes], actor: Actor, *,
    accept_gaps: bool = False,
) -> DeployOutcome:
    """Validate and store one process folder. Raises ``DeployRejected`` with every problem.

    A valid folder with conformance gaps raises ``ConformanceGaps`` unless ``accept_gaps``;
    then it is stored with the gaps recorded on the version. Content identical to the latest
    version is a no-op either way (its gaps were accepted when it was deployed).
    """
    if not actor.may_deploy():
        raise NotAllowed(f"{actor.name} may not deploy process models (needs Process Owner)")
    problems = _size_problems(files)
    checked = check_process_folder(
        key, files, known_roles=known_roles(session), library_bpmn=_library_bpmn(session, key)
    )
    problems += checked.problems
    if problems or checked.manifest is None:
        raise DeployRejected(key, problems or [Problem(None, None, None, "invalid manifest")])
    digest = content_hash(files)
    model = session.scalar(select(ProcessModel).where(ProcessModel.key == key))
    latest = _latest_version(session, model) if model is not None else None
    if latest is not None and latest.content_hash == digest:
        return DeployOutcome(key, latest.number, created=False,
                             accepted_gaps=_stored_gaps(latest.accepted_gaps))
    roots = checked.roots()  # each file is parsed once per deploy, by the checks
    gaps = list(check_conformance(checked.manifest, files, roots=roots).gaps)
    if gaps and not accept_gaps:
        raise ConformanceGaps(key, gaps)
    version = _store_version(session, key, model, latest, files, checked, actor, digest, gaps)
    # A timer start event: the engine's schedule.
    sync_schedule(session, key, version, files, roots=roots)
    return DeployOutcome(key, version.number, created=True, accepted_gaps=tuple(gaps))


def _stored_gaps(stored: list[Any] | None) -> tuple[Gap, ...]:
    return tuple(Gap.from_dict(g) for g in stored or () if isinstance(g, dict))


def _size_problems(files: Mapping[str, bytes]) -> list[Problem]:
    return [
        Problem(name, None, None, f"file is larger than {_MAX_FILE_BYTES // 1024} KB")
        for name, content in files.items()
        if len(content) > _MAX_FILE_BYTES
    ]


def _latest_version(session: Session, model: ProcessModel) -> ProcessVersion | None:
    return session.scalar(
        select(ProcessVersion)
        .where(ProcessVersion.model_id == model.id)
        .order_by(ProcessVersion.number.desc())
        .limit(1)
    )


def _library_bpmn(session: Session, exclude_key: str) -> dict[str, bytes]:
    """BPMN and DMN files of every other model's latest version, to resolve call activities."""
    latest = (
        select(ProcessVersion.model_id, func.max(ProcessVersion.number).label("number"))
        .group_by(ProcessVersion.model_id)
        .subquery()
    )
    rows = session.execute(
        select(ProcessModel.key, VersionFile.name, VersionFile.content)
        .join(ProcessVersion, ProcessVersion.model_id == ProcessModel.id)
        .join(
            latest,
            (latest.c.model_id == ProcessVersion.model_id)
            & (latest.c.number == ProcessVersion.number),
        )
        .join(VersionFile, VersionFile.version_id == ProcessVersion.id)
        .where(ProcessModel.key != exclude_key,
               VersionFile.name.like("%.bpmn") | VersionFile.name.like("%.dmn"))
    ).all()
    return {f"{model_key}/{name}": content for model_key, name, content in rows}


def _store_version(
    session: Session,
    key: str,
    model: ProcessModel | None,
    latest: ProcessVersion | None,
    files: Mapping[str, bytes],
    checked: CheckedFolder,
    actor: Actor,
    digest: str,
    gaps: list[Gap],
) -> ProcessVersion:
    manifest = checked.manifest
    assert manifest is not None
    now = clock.now()
    if model is None:
        model = ProcessModel(key=key, name=manifest.name, owner_role=manifest.owner_role,
                             created_at=now)
        session.add(model)
        session.flush()
    model.name, model.owner_role = manifest.name, manifest.owner_role
    version = ProcessVersion(
        model_id=model.id,
        number=(latest.number + 1) if latest else 1,
        content_hash=digest,
        process_id=manifest.process_id,
        manifest=json.loads(files["manifest.json"]),
        called_processes=sorted(checked.called_processes),
        deployed_by=actor.name,
        deployed_at=now,
        accepted_gaps=[g.as_dict() for g in gaps] or None,
    )
    session.add(version)
    session.flush()
    session.add_all(
        VersionFile(version_id=version.id, name=name, content=content)
        for name, content in sorted(files.items())
    )
    _index_definitions(session, model.id, checked)
    # The prefix the runtime numbers with (the key when the manifest names none).
    _ensure_counter(session, counter_prefix(key, manifest.business_key_prefix))
    details: dict[str, Any] = {"key": key, "version": version.number, "hash": digest}
    if gaps:
        details["accepted_gaps"] = [g.requirement for g in gaps]
    session.add(
        AuditEvent(instance_id=None, at=now, actor=actor.name, kind="process_deployed",
                   details=details)
    )
    session.flush()
    return version


def _index_definitions(session: Session, model_id: int, checked: CheckedFolder) -> None:
    session.execute(delete(ProcessDefinitionIndex).where(
        ProcessDefinitionIndex.model_id == model_id))
    starts = checked.message_starts
    for process_id in sorted(checked.process_ids):
        session.add(ProcessDefinitionIndex(process_id=process_id, model_id=model_id,
                                           start_message=None))
    for message, process_id in sorted(starts.items()):
        session.add(ProcessDefinitionIndex(process_id=process_id, model_id=model_id,
                                           start_message=message))


def _ensure_counter(session: Session, prefix: str | None) -> None:
    # Created at deploy so starting an instance only ever UPDATEs the counter row.
    if prefix and session.get(BusinessKeyCounter, prefix) is None:
        session.add(BusinessKeyCounter(prefix=prefix, last_value=0))


def dependency_order(folders: Mapping[str, Mapping[str, bytes]]) -> list[str]:
    """Folder keys ordered so that a folder comes after the folders whose processes it calls."""
    defines: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for key, files in folders.items():
        defines[key], calls[key] = set(), set()
        for root in _bpmn_roots(files):
            defines[key] |= executable_ids(root)
            calls[key] |= called_ids(root)
    ordered: list[str] = []

    def visit(key: str, path: tuple[str, ...]) -> None:
        if key in ordered or key in path:
            return
        for other, ids in defines.items():
            if other != key and calls[key] & ids:
                visit(other, (*path, key))
        ordered.append(key)

    for key in sorted(folders):
        visit(key, ())
    return ordered


def _bpmn_roots(files: Mapping[str, bytes]) -> list[Element]:
    """The folder's BPMN files, parsed (one that is not XML defines and calls nothing; the
    deploy says why)."""
    roots = []
    for name, content in files.items():
        if not name.endswith(".bpmn"):
            continue
        try:
            roots.append(etree.fromstring(content, spiff.safe_xml_parser()))
        except (etree.XMLSyntaxError, ValueError):
            continue
    return roots
