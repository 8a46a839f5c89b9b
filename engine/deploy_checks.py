"""Deploy-time checks of one process folder: everything knowable before an instance runs.

Every problem of every layer is collected (never just the first), so a process owner sees
the whole list after one deploy attempt:

1. ``manifest.json`` (``engine.manifest``);
2. each ``.bpmn`` / ``.dmn`` file is well-formed XML and valid against the BPMN 2.0 / DMN XSD
   (``engine.xml_problems``);
3. constructs SpiffWorkflow 3.2.0 cannot execute or this engine does not support, all of
   them, each named with its type and the reason (``engine.executability``), then
   SpiffWorkflow's own parse of every executable process (its semantic checks; here);
4. our conventions (``bpmn/README.md``): forms exist and are valid schemas, lanes are known
   roles, no reserved ids, messages have names, DMN hit policies SpiffWorkflow implements
   (``engine.bpmn_conventions``); scripts and expressions pass the sandbox's compile check
   and literal timers are valid ISO 8601 (``engine.bpmn_expressions``).

Layer 4 exists because SpiffWorkflow looks at scripts, conditions and timers only when they
run, and some mistakes make it drop tasks or ignore settings without a word. This module
runs the layers and merges what they find: SpiffWorkflow's complaint about an element
another layer explains is dropped (it stops at the first thing per process, so it repeats
ours in its own words), and every problem at an element names the element's type
(``bpmn:sequenceFlow: ...``). Whatever a diagram contains, checking it never raises: a
check that breaks on it becomes a problem that rejects the folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
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
from engine.executability import executability_problems
from engine.manifest import Manifest, check_manifest, manifest_process_id
from engine.spiff import VALIDATOR, SpiffBpmnParser, ValidationException, safe_xml_parser
from engine.xml_problems import (
    NS,
    PROCESS,
    Document,
    Element,
    called_ids,
    element_by_id,
    executable_ids,
    load_documents,
    type_label,
)

__all__ = ["CheckedFolder", "check_process_folder"]

_INTERNAL_ERROR = "SpiffWorkflow could not parse this"


@dataclass(frozen=True)
class CheckedFolder:
    """What the checks found out about one process folder."""

    manifest: Manifest | None
    problems: list[Problem]
    called_processes: set[str]  # called by a callActivity, defined outside this folder
    process_ids: set[str]  # executable processes this folder defines
    message_starts: dict[str, str]  # message name -> process id it starts
    # The well-formed .bpmn and .dmn files as parsed, so later steps of a deploy need not
    # parse them again (``Document.root`` by name).
    documents: tuple[Document, ...] = field(default=(), repr=False, compare=False)

    def roots(self) -> dict[str, Element]:
        """File name -> root element of every well-formed ``.bpmn`` and ``.dmn`` file."""
        return {doc.name: doc.root for doc in self.documents}


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
    try:
        return _check(key, files, known_roles, library_bpmn or {})
    except Exception as exc:  # the last resort: a broken check rejects, it does not crash
        message = f"the deploy checks broke on this folder ({type(exc).__name__}: {exc})"
        return CheckedFolder(None, [Problem(None, None, None, message)], set(), set(), {})


def _check(key: str, files: Mapping[str, bytes], known_roles: Collection[str],
           library_bpmn: Mapping[str, bytes]) -> CheckedFolder:
    manifest, problems = check_manifest(files, known_roles)
    docs, load_problems = load_documents(files)
    problems += load_problems
    if not any(name.endswith(".bpmn") for name in files):
        problems.append(Problem(None, None, None, f"process folder {key!r} has no .bpmn file"))
    bpmn_docs = [doc for doc in docs if not doc.is_dmn]
    defined = {str(p.get("id")) for d in bpmn_docs for p in d.root.iterfind(PROCESS, NS)}
    called = {c for doc in bpmn_docs for c in called_ids(doc.root)} - defined
    library = _parsed(library_bpmn) if called else {}
    starts, own = _guarded_starts(bpmn_docs)
    for doc in docs:
        own += _guarded(doc.name, convention_problems, doc, known_roles)
    own += _guarded(None, form_problems, bpmn_docs, files)
    own += _guarded(None, call_problems, bpmn_docs, defined | _library_ids(library))
    entry, _ = manifest_process_id(files)
    unexecutable = _guarded(None, executability_problems, bpmn_docs, entry)
    problems += unexecutable + own + _unechoed(_spiff_problems(docs, library, defined),
                                               own + unexecutable)
    problems += _guarded("manifest.json", manifest_process_problems, files, bpmn_docs)
    process_ids = {pid for doc in bpmn_docs for pid in executable_ids(doc.root)}
    return CheckedFolder(manifest, _ordered(_typed(problems, docs)), called, process_ids, starts,
                         tuple(docs))


def _guarded(file: str | None, check: Callable[..., list[Problem]], *args: Any) -> list[Problem]:
    """Run one check; if it breaks on the content, that becomes a problem, not a crash."""
    try:
        return check(*args)
    except Exception as exc:
        name = getattr(check, "__name__", "a check").strip("_").replace("_", " ")
        return [Problem(file, None, None, f"{name} broke on this ({type(exc).__name__}: {exc})")]


def _guarded_starts(docs: list[Document]) -> tuple[dict[str, str], list[Problem]]:
    try:
        return message_starts(docs)
    except Exception as exc:
        return {}, [Problem(None, None, None,
                            f"message starts broke on this ({type(exc).__name__}: {exc})")]


# -- SpiffWorkflow's parse -------------------------------------------------------------------


def _spiff_problems(
    docs: list[Document], library: dict[str, Element], defined: set[str]
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


def _add_library(parser: Any, library: dict[str, Element], defined: set[str]) -> None:
    """Add deployed models; a process this folder redefines comes from the folder."""
    for name in sorted(library):
        root = library[name]
        try:
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
    element_id = exc.id or _data_store_id(exc, fallback, docs)
    file = exc.file_name or _file_with(element_id, docs) or fallback
    line = exc.line_number if isinstance(exc.line_number, int) else None
    if line is None and element_id is not None:
        line = _line_of(element_id, next((d for d in docs if d.name == file), None))
    message = str(exc.args[0]) if exc.args else type(exc).__name__  # str(exc) appends ". "
    if re.match(r"[A-Z]\w*(Error|Exception)\(", message):  # Spiff wrapped its own bug
        message = f"{_INTERNAL_ERROR} element ({message})"
    return Problem(file, line, element_id, message)


def _unechoed(spiff: list[Problem], ours: list[Problem]) -> list[Problem]:
    """Drop what Spiff says about elements our checks already explain.

    SpiffWorkflow stops at the first thing it cannot parse in a process, so what it says
    about an element we explain is that same thing again, worded after its internals.
    """
    explained = {(p.file, p.element_id) for p in ours if p.element_id}
    return [p for p in spiff if (p.file, p.element_id) not in explained]


def _data_store_id(exc: ValidationException, file: str, docs: list[Document]) -> str | None:
    """The data store Spiff names (by name only) when it refuses a file for it."""
    found = re.match(r"Data Store with name (.*) has no implementation", str(exc.args[0]
                                                                             if exc.args else ""),
                     re.DOTALL)
    doc = next((d for d in docs if d.name == file), None)
    if found is None or doc is None:
        return None
    stores = [s for s in doc.root.iterfind("bpmn:dataStore", NS) if s.get("name") == found[1]]
    return str(stores[0].get("id")) if stores and stores[0].get("id") else None


# -- small helpers ---------------------------------------------------------------------------


def _typed(problems: list[Problem], docs: list[Document]) -> list[Problem]:
    """Name the element's type in every problem located at an element (``bpmn:task: ...``)."""
    typed = []
    for problem in problems:
        element = _element_of(problem, docs)
        label = None if element is None else type_label(element)
        if label is not None and not problem.message.startswith(label):
            problem = replace(problem, message=f"{label}: {problem.message}")
        typed.append(problem)
    return typed


def _element_of(problem: Problem, docs: list[Document]) -> Any:
    if problem.element_id is None:
        return None
    own = [d for d in docs if d.name == problem.file]
    for doc in own + [d for d in docs if d.name != problem.file]:
        element = element_by_id(doc, problem.element_id)
        if element is not None:
            return element
    return None


def _parsed(library: Mapping[str, bytes]) -> dict[str, Element]:
    """The deployed models, each parsed once per check; those that are not XML are left out."""
    roots = {}
    for name, raw in library.items():
        try:
            roots[name] = etree.fromstring(raw, safe_xml_parser())
        except (etree.XMLSyntaxError, ValueError):
            continue  # deployed models were checked when they were deployed
    return roots


def _library_ids(library: Mapping[str, Element]) -> set[str]:
    return {pid for name, root in library.items() if name.endswith(".bpmn")
            for pid in executable_ids(root)}


def _file_with(element_id: str | None, docs: list[Document]) -> str | None:
    return next((d.name for d in docs if element_by_id(d, element_id) is not None), None)


def _line_of(element_id: str, doc: Document | None) -> int | None:
    element = None if doc is None else element_by_id(doc, element_id)
    return None if element is None else int(element.sourceline)


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Without repeats, by file and line, so a listing reads top to bottom."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file or "", p.line or 0))
