"""A process folder's ``.bpmn`` and ``.dmn`` files as XML, and problems pointed into them.

Layer 2 of the deploy checks (``engine.deploy_checks``): every file must be well-formed XML
and valid against the BPMN 2.0 / DMN XSD. The helpers that tie a ``Problem`` to a file, a
line and the id a process owner knows live here too, because every later layer needs them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree

from engine.errors import Problem
from engine.spiff import VALIDATOR, SpiffBpmnParser, safe_xml_parser

__all__ = [
    "BPMN_NS",
    "NS",
    "PROCESS",
    "SPIFF_NS",
    "Document",
    "Element",
    "called_ids",
    "element_by_id",
    "executable_ids",
    "load_documents",
    "owner_of",
    "problem_at",
    "type_label",
]

Element = Any  # an lxml element; lxml ships no type hints

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
PROCESS = "bpmn:process[@id]"
_PREFIXES = {
    BPMN_NS: "bpmn:",
    SPIFF_NS: "spiffworkflow:",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi:",
    "http://www.omg.org/spec/DD/20100524/DC": "dc:",
    "http://www.omg.org/spec/DD/20100524/DI": "di:",
}


@dataclass(frozen=True)
class Document:
    """One well-formed ``.bpmn`` or ``.dmn`` file of the folder."""

    name: str
    root: Element
    is_dmn: bool
    schema_valid: bool


def load_documents(files: Mapping[str, bytes]) -> tuple[list[Document], list[Problem]]:
    """Parse every diagram and decision file; report syntax and XSD errors with lines."""
    docs: list[Document] = []
    problems: list[Problem] = []
    for name in sorted(n for n in files if n.endswith((".bpmn", ".dmn"))):
        try:
            root = etree.fromstring(files[name], safe_xml_parser())
        except etree.XMLSyntaxError as exc:
            problems.append(Problem(name, exc.lineno, None, f"not well-formed XML: {exc.msg}"))
            continue
        found = _schema_problems(name, root, name.endswith(".dmn"))
        problems += found
        docs.append(Document(name, root, name.endswith(".dmn"), not found))
    return docs, problems


def _schema_problems(name: str, root: Element, is_dmn: bool) -> list[Problem]:
    if is_dmn:
        namespace = etree.QName(root).namespace
        schema = _dmn_schema(namespace)
        if schema is None:
            message = f"not a DMN 1.1, 1.2 or 1.3 document (namespace {namespace!r})"
            return [Problem(name, root.sourceline, None, message)]
    else:
        VALIDATOR.preprocess(root)  # the rewrite SpiffWorkflow makes before it validates
        schema = VALIDATOR.validator
    if schema.validate(root):
        return []
    # The whole error log, not SpiffWorkflow's validate(), which keeps only the last error.
    return [
        Problem(name, error.line, _id_at_line(root, error.line), _plain_xsd(error.message))
        for error in schema.error_log
    ]


@lru_cache(maxsize=8)
def _dmn_schema(namespace: str | None) -> Any:
    """The XSD SpiffWorkflow uses for this DMN version, or None for a version it lacks."""
    path = SpiffBpmnParser().dmn_schemas.get(namespace)
    return None if path is None else etree.XMLSchema(etree.parse(path))


def _plain_xsd(message: str) -> str:
    """Write namespaces as the usual prefixes and cut long lists of expected elements."""
    message = re.sub(r"\{([^}]*)\}", lambda m: _prefix(m[1]) or m[0], message)
    expected = re.search(r"Expected is one of \( (.*) \)", message)
    if expected and expected[1].count(",") > 5:
        names = expected[1].split(", ")
        message = message.replace(expected[1], ", ".join([*names[:6], "..."]))
    return message


def _prefix(namespace: str) -> str | None:
    return "dmn:" if "/DMN/" in namespace else _PREFIXES.get(namespace)


def _id_at_line(root: Element, line: int) -> str | None:
    element = next((e for e in root.iter(etree.Element) if e.sourceline == line), None)
    return None if element is None else _owner_id(element)


# -- finding elements and pointing at them ---------------------------------------------------


def executable_ids(root: Element) -> set[str]:
    """Ids of the processes in this file that SpiffWorkflow will run."""
    # SpiffWorkflow's rule: a process without isExecutable counts as executable.
    return {
        str(p.get("id"))
        for p in root.iterfind(PROCESS, NS)
        if p.get("isExecutable", "true") == "true"
    }


def called_ids(root: Element) -> set[str]:
    """Ids of the processes this file's call activities call."""
    return {str(c.get("calledElement"))
            for c in root.iterfind(".//bpmn:callActivity[@calledElement]", NS)}


def element_by_id(doc: Document, element_id: str | None) -> Element | None:
    """The element of ``doc`` with this id, if there is one (a BPMN element first: other
    tools' extension elements may reuse an id)."""
    if element_id is None:
        return None
    found = doc.root.xpath("//*[@id=$id]", id=element_id)
    return next((e for e in found if etree.QName(e).namespace == BPMN_NS),
                found[0] if found else None)


def problem_at(doc: Document, element: Element, message: str) -> Problem:
    """A problem located at ``element``: its file, its line and the id its owner knows."""
    return Problem(doc.name, element.sourceline, _owner_id(element), message)


def type_label(element: Element) -> str:
    """The element's type as a modeler shows it in XML: ``bpmn:task``, ``dmn:decision``."""
    qname = etree.QName(element)
    namespace = qname.namespace or ""
    prefix = _prefix(namespace) if namespace else ""
    if prefix is None:
        prefix = f"{element.prefix}:" if element.prefix else f"{{{namespace}}}"
    return f"{prefix}{qname.localname}"


# Parts of an element, never what a process owner points at (they may carry ids of their own).
_PARTS = ("conditionExpression", "condition", "timeDate", "timeDuration", "timeCycle",
          "loopCardinality", "completionCondition", "loopCondition", "script",
          "formalExpression", "expression", "multiInstanceLoopCharacteristics",
          "standardLoopCharacteristics")


def owner_of(element: Element) -> Element | None:
    """The nearest BPMN element a process owner knows: not an event definition or expression."""
    for candidate in (element, *element.iterancestors()):
        qname = etree.QName(candidate)
        if (candidate.get("id") and qname.namespace == BPMN_NS
                and not qname.localname.endswith("EventDefinition")
                and qname.localname not in _PARTS):
            return candidate
    return None


def _owner_id(element: Element) -> str | None:
    owner = owner_of(element)
    return None if owner is None else str(owner.get("id"))
