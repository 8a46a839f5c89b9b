"""Deploy-time checks of one process folder: everything knowable before an instance runs.

Every problem of every layer is collected (never just the first), so a process owner sees
the whole list after one deploy attempt:

1. ``manifest.json`` (``engine.manifest``);
2. each ``.bpmn`` / ``.dmn`` file is well-formed XML and valid against the BPMN 2.0 / DMN XSD
   (``engine.xml_problems``);
3. SpiffWorkflow's own parse of every executable process (its semantic checks; here);
4. our conventions (``bpmn/README.md``): forms exist and are valid schemas, lanes are known
   roles, no reserved ids, messages have names, DMN hit policies SpiffWorkflow implements
   (``engine.bpmn_conventions``); scripts and expressions pass the sandbox's compile check
   and literal timers are valid ISO 8601 (``engine.bpmn_expressions``).

Layer 4 exists because SpiffWorkflow looks at scripts, conditions and timers only when they
run, and some mistakes make it drop tasks or ignore settings without a word. This module
runs the layers and merges what they find.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.bpmn_conventions import (
    call_problems,
    convention_problems,
    form_problems,
    manifest_process_problems,
    message_starts,
)
from engine.errors import Problem
from engine.manifest import Manifest, check_manifest
from engine.spiff import VALIDATOR, SpiffBpmnParser, ValidationException, safe_xml_parser
from engine.xml_problems import (
    NS,
    PROCESS,
    Document,
    called_ids,
    element_by_id,
    executable_ids,
    load_documents,
)

__all__ = ["CheckedFolder", "check_process_folder", "process_ids_in"]

_INTERNAL_ERROR = "SpiffWorkflow could not parse this"


@dataclass(frozen=True)
class CheckedFolder:
    """What the checks found out about one process folder."""

    manifest: Manifest | None
    problems: list[Problem]
    called_processes: set[str]  # called by a callActivity, defined outside this folder
    process_ids: set[str]  # executable processes this folder defines
    message_starts: dict[str, str]  # message name -> process id it starts


def check_process_folder(
    key: str,
    files: Mapping[str, bytes],
    *,
    known_roles: Collection[str],
    library_bpmn: Mapping[str, bytes] | None = None,
) -> CheckedFolder:
    """Check the folder ``key`` (file name -> content); never raises for bad content.

    ``library_bpmn`` holds the files (name -> content) of models already deployed, so call
    activities into them resolve; ``.dmn`` names in it are read as decision tables.
    """
    manifest, problems = check_manifest(files, known_roles)
    docs, load_problems = load_documents(files)
    problems += load_problems
    if not any(name.endswith(".bpmn") for name in files):
        problems.append(Problem(None, None, None, f"process folder {key!r} has no .bpmn file"))
    bpmn_docs = [doc for doc in docs if not doc.is_dmn]
    defined = {str(p.get("id")) for d in bpmn_docs for p in d.root.iterfind(PROCESS, NS)}
    called = {c for doc in bpmn_docs for c in called_ids(doc.root)} - defined
    library = dict(library_bpmn or {}) if called else {}
    starts, own = message_starts(bpmn_docs)
    own += [p for doc in docs for p in convention_problems(doc, known_roles)]
    own += form_problems(bpmn_docs, files)
    own += call_problems(bpmn_docs, defined | _library_ids(library))
    problems += own + _unechoed(_spiff_problems(docs, library, defined), own)
    problems += manifest_process_problems(files, bpmn_docs)
    process_ids = {pid for doc in bpmn_docs for pid in executable_ids(doc.root)}
    return CheckedFolder(manifest, _ordered(problems), called, process_ids, starts)


def process_ids_in(bpmn: bytes) -> set[str]:
    """Executable process ids a BPMN file defines; none when the file is not XML."""
    try:
        return executable_ids(etree.fromstring(bpmn, safe_xml_parser()))
    except (etree.XMLSyntaxError, ValueError):
        return set()


# -- SpiffWorkflow's parse -------------------------------------------------------------------


def _spiff_problems(
    docs: list[Document], library: dict[str, bytes], defined: set[str]
) -> list[Problem]:
    """Parse the folder the way the engine will and turn each refusal into a Problem."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    problems: list[Problem] = []
    parsed: list[Document] = []
    for doc in (d for d in docs if d.schema_valid):
        add = parser.add_dmn_xml if doc.is_dmn else parser.add_bpmn_xml
        found = _attempt(docs, doc.name, add, doc.root, filename=doc.name)
        problems += found
        if not found and not doc.is_dmn:
            parsed.append(doc)
    _add_library(parser, library, defined)
    for dmn in list(parser.dmn_parsers.values()):
        if dmn.filename in {doc.name for doc in docs}:  # DMN is parsed lazily otherwise
            problems += _attempt(docs, dmn.filename, dmn.parse)
    for doc in parsed:
        for process_id in sorted(executable_ids(doc.root)):
            problems += _attempt(docs, doc.name, _parse_process, parser, process_id)
    return problems


def _parse_process(parser: Any, process_id: str) -> None:
    parser.get_spec(process_id)
    # Missing called processes are reported by call_problems (bpmn_conventions), with lines.
    parser.get_subprocess_specs(process_id, require_call_activity_specs=False)


def _add_library(parser: Any, library: dict[str, bytes], defined: set[str]) -> None:
    """Add deployed models; a process this folder redefines comes from the folder."""
    for name in sorted(library):
        try:
            root = etree.fromstring(library[name], safe_xml_parser())
            if name.endswith(".dmn"):
                parser.add_dmn_xml(root, filename=name)
            elif not {p.get("id") for p in root.iterfind(PROCESS, NS)} & defined:
                parser.add_bpmn_xml(root, filename=name)
        except Exception:  # deployed models were checked when they were deployed
            continue


def _attempt(docs: list[Document], file: str, func: Callable[..., Any], *args: Any,
             **kwargs: Any) -> list[Problem]:
    """Run one parser step; its exception, whatever it is, becomes a Problem."""
    try:
        func(*args, **kwargs)
    except ValidationException as exc:
        return [_from_validation(exc, file, docs)]
    except Exception as exc:  # a parser bug must reject the folder, not crash the deploy
        return [Problem(file, None, None, f"{_INTERNAL_ERROR} file ({type(exc).__name__}: {exc})")]
    return []


def _from_validation(exc: ValidationException, fallback: str, docs: list[Document]) -> Problem:
    # Spiff leaves line_number empty for semantic errors (it reads an attribute lxml lacks)
    # and file_name empty for some (e.g. a missing decision table): look the id up instead.
    element_id = exc.id or None
    file = exc.file_name or _file_with(element_id, docs) or fallback
    line = exc.line_number if isinstance(exc.line_number, int) else None
    if line is None and element_id is not None:
        line = _line_of(element_id, next((d for d in docs if d.name == file), None))
    message = str(exc.args[0]) if exc.args else type(exc).__name__  # str(exc) appends ". "
    if re.match(r"[A-Z]\w*(Error|Exception)\(", message):  # Spiff wrapped its own bug
        message = f"{_INTERNAL_ERROR} element ({message})"
    return Problem(file, line, element_id, message)


def _unechoed(spiff: list[Problem], own: list[Problem]) -> list[Problem]:
    """Drop Spiff's internal errors about elements our own checks already explain."""
    explained = {(p.file, p.element_id) for p in own}
    return [
        p for p in spiff
        if not (p.message.startswith(_INTERNAL_ERROR) and (p.file, p.element_id) in explained)
    ]


# -- small helpers ---------------------------------------------------------------------------


def _library_ids(library: Mapping[str, bytes]) -> set[str]:
    return {pid for name, raw in library.items() if name.endswith(".bpmn")
            for pid in process_ids_in(raw)}


def _file_with(element_id: str | None, docs: list[Document]) -> str | None:
    return next((d.name for d in docs if element_by_id(d, element_id) is not None), None)


def _line_of(element_id: str, doc: Document | None) -> int | None:
    element = None if doc is None else element_by_id(doc, element_id)
    return None if element is None else int(element.sourceline)


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Without repeats, by file and line, so a listing reads top to bottom."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file or "", p.line or 0))
