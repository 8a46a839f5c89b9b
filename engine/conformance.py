"""Conformance: do a process folder's diagrams still meet the ISO 20000 requirements it claims?

A manifest lists requirements (``engine.manifest.Requirement``: id, text, clauses by edition,
element ids). A requirement is met when one of its listed element ids is an element of any
BPMN file of the folder, or when an element claims it itself with
``<spiffworkflow:property name="iso.requirement" value="<id>"/>`` inside its
``extensionElements``. Only BPMN model elements count: a shape left behind in the diagram
interchange (BPMNDI) after its task was deleted meets nothing.

A requirement met by nothing is a :class:`~engine.errors.Gap`. Deploying a folder with gaps
fails (``ConformanceGaps``) unless the owner accepts them; ``itsm check`` lists them, and
``itsm check --report`` prints the coverage of a whole library clause by clause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from engine.errors import Gap
from engine.manifest import Manifest, Requirement
from engine.spiff import safe_xml_parser
from engine.xml_problems import BPMN_NS, NS, Element

__all__ = [
    "ISO_PROPERTY",
    "STANDARD",
    "ConformanceResult",
    "Coverage",
    "CoverageRow",
    "Gap",
    "check_conformance",
    "clause_sort_key",
    "coverage_rows",
    "format_clauses",
    "gap_for",
]

#: The ``spiffworkflow:property`` name with which an element claims a requirement.
ISO_PROPERTY = "iso.requirement"
#: How a clause is cited: ``ISO/IEC 20000-1:2018 8.6.1``.
STANDARD = "ISO/IEC 20000-1"

_CLAIMS = f".//spiffworkflow:property[@name='{ISO_PROPERTY}']"
_EXTENSION_ELEMENTS = f"{{{BPMN_NS}}}extensionElements"


@dataclass(frozen=True)
class Coverage:
    """One claimed requirement and the element ids that meet it (empty: a gap)."""

    requirement: Requirement
    elements: tuple[str, ...]

    @property
    def met(self) -> bool:
        return bool(self.elements)


@dataclass(frozen=True)
class ConformanceResult:
    """What :func:`check_conformance` found for one folder."""

    coverage: tuple[Coverage, ...]
    gaps: tuple[Gap, ...]
    #: Requirement ids claimed by an ``iso.requirement`` property that the manifest does not
    #: list (a typo, or a requirement missing from the manifest) -> the claiming elements.
    unlisted_claims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: BPMN files that are not well-formed XML: their elements could not be looked at (the
    #: deploy checks report why), so gaps may be reported that the file would have met.
    unreadable: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.gaps


@dataclass(frozen=True)
class CoverageRow:
    """One line of the library report: a requirement of a process under one edition's clause."""

    edition: str
    clause: str
    process: str
    requirement: str
    text: str
    elements: tuple[str, ...]

    @property
    def met(self) -> bool:
        return bool(self.elements)


def check_conformance(
    manifest: Manifest, bpmn_files: Mapping[str, bytes], *,
    roots: Mapping[str, Element] | None = None,
) -> ConformanceResult:
    """Check each requirement ``manifest`` claims against the ``.bpmn`` files (name -> bytes).

    Other files in the mapping (``.dmn``, ``.json``) are ignored, so a whole folder may be
    passed. ``roots`` holds files already parsed (name -> root element, e.g. by the deploy
    checks); the others are parsed here. Never raises for bad content.
    """
    ids: set[str] = set()
    claims: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for name in sorted(n for n in bpmn_files if n.endswith(".bpmn")):
        root = (roots or {}).get(name)
        if root is None:
            try:
                root = etree.fromstring(bpmn_files[name], safe_xml_parser())
            except (etree.XMLSyntaxError, ValueError):
                unreadable.append(name)
                continue
        ids |= _model_ids(root)
        for requirement_id, element_id in _property_claims(root):
            claims.setdefault(requirement_id, []).append(element_id)
    coverage = tuple(
        Coverage(r, _satisfying(r, ids, claims.get(r.id, ()))) for r in manifest.requirements
    )
    listed = {r.id for r in manifest.requirements}
    return ConformanceResult(
        coverage=coverage,
        gaps=tuple(gap_for(c.requirement) for c in coverage if not c.met),
        unlisted_claims={k: tuple(v) for k, v in sorted(claims.items()) if k not in listed},
        unreadable=tuple(unreadable),
    )


def gap_for(requirement: Requirement) -> Gap:
    """The gap of a requirement nothing meets, with the sentence a process owner reads."""
    listed = requirement.elements
    if len(listed) > 1:
        why = f"none of {', '.join(listed)} is in the diagram"
    elif listed:
        why = f"{listed[0]} is not in the diagram"
    else:
        why = (f"no element of the diagram claims it "
               f"(spiffworkflow:property {ISO_PROPERTY} = {requirement.id})")
    message = (f"requirement {requirement.id} ({format_clauses(requirement.clauses)}) "
               f"is no longer met: {why}")
    return Gap(requirement.id, requirement.text, dict(requirement.clauses), listed, message)


def format_clauses(clauses: Mapping[str, str]) -> str:
    """``ISO/IEC 20000-1:2018 8.6.1, ISO/IEC 20000-1:2011 8.1`` (newest edition first)."""
    return ", ".join(f"{STANDARD}:{edition} {clauses[edition]}"
                     for edition in sorted(clauses, reverse=True))


def coverage_rows(results: Mapping[str, tuple[Manifest, ConformanceResult]]) -> list[CoverageRow]:
    """Rows of the library report, one per (requirement, edition), sorted by clause.

    ``results`` maps a process key to its manifest and conformance result. A clause the
    manifest's ``iso20000`` names but no requirement cites gets a row with requirement
    ``-`` (nothing claimed for it, so nothing checked).
    """
    rows: list[CoverageRow] = []
    for process, (manifest, result) in results.items():
        cited: set[tuple[str, str]] = set()
        for item in result.coverage:
            for edition, clause in item.requirement.clauses.items():
                cited.add((edition, clause))
                rows.append(CoverageRow(edition, clause, process, item.requirement.id,
                                        item.requirement.text, item.elements))
        for edition, clauses in manifest.iso20000.items():
            rows += [CoverageRow(edition, clause, process, "-", "no requirement claimed", ())
                     for clause in clauses if (edition, clause) not in cited]
    # Stable: within a clause and process, rows keep the manifest's order.
    return sorted(rows, key=lambda r: (r.edition, clause_sort_key(r.clause), r.process))


def clause_sort_key(clause: str) -> tuple[tuple[int, str], ...]:
    """``8.6.1`` before ``8.10``: numeric parts compare as numbers."""
    return tuple((int(part), "") if part.isdigit() else (1 << 30, part)
                 for part in re.split(r"[.\s]+", clause.strip()))


# -- reading the diagrams --------------------------------------------------------------------


def _model_ids(root: Element) -> set[str]:
    """Ids of BPMN model elements (not diagram interchange shapes or extension elements)."""
    return {
        str(element.get("id"))
        for element in root.iter(f"{{{BPMN_NS}}}*")
        if element.get("id")
    }


def _property_claims(root: Element) -> Iterable[tuple[str, str]]:
    """(requirement id, element id) for each ``iso.requirement`` property with an owner."""
    for prop in root.iterfind(_CLAIMS, NS):
        value = (prop.get("value") or "").strip()
        owner = _owner(prop)
        if value and owner is not None:
            yield value, owner


def _owner(prop: Element) -> str | None:
    """The id of the BPMN element whose extension elements hold the property."""
    for ancestor in prop.iterancestors():
        if ancestor.tag == _EXTENSION_ELEMENTS:
            continue
        if etree.QName(ancestor).namespace == BPMN_NS and ancestor.get("id"):
            return str(ancestor.get("id"))
    return None


def _satisfying(requirement: Requirement, ids: set[str], claimed: Iterable[str]) -> tuple[str, ...]:
    found = [e for e in requirement.elements if e in ids]
    return tuple(dict.fromkeys([*found, *claimed]))
