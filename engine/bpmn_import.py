"""One BPMN file from another tool, made into a process folder: the file and a manifest.

A diagram drawn in Camunda Modeler, Signavio, Trisotech, ... comes without the
``manifest.json`` a process folder needs (``bpmn/README.md``). The manifest made here names
the process an instance starts, owner role "Process Owner" and no ISO 20000 clauses; the
process owner edits it later like any other. The BPMN file is kept byte for byte, extension
elements and attributes of other vendors included: the manifest is a file beside it, never
written into it.

Which process an instance starts: the one asked for; else the only executable process
that no call activity of the file calls; else, when none is marked executable, the first
process (the deploy checks then report that it is not executable, and everything else it
contains that this engine cannot run). A collaboration with several executable processes is
ambiguous: that is reported instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath

from lxml import etree

from engine.access import PROCESS_OWNER
from engine.deploy_checks import CheckedFolder, check_process_folder
from engine.errors import Problem
from engine.manifest import MANIFEST_FILE
from engine.spiff import safe_xml_parser
from engine.xml_problems import NS, PROCESS, Element, called_ids, type_label

__all__ = ["ImportedFile", "check_bpmn_file", "import_folder"]


@dataclass(frozen=True)
class ImportedFile:
    """A BPMN file made into a process folder."""

    files: dict[str, bytes]  # the BPMN as given, and the manifest made for it
    process_id: str | None  # the process an instance starts; None when none could be chosen
    problems: list[Problem]  # why no process could be chosen

    def merged(self, checked: list[Problem]) -> list[Problem]:
        """These problems and the deploy checks', without the checks' complaint about the
        manifest's missing ``process_id`` (ours, and explained by ``problems``)."""
        if self.process_id is not None:
            return list(checked)
        rest = [p for p in checked
                if not (p.file == MANIFEST_FILE and p.message.startswith("'process_id'"))]
        return [*self.problems, *rest]


def import_folder(file_name: str, bpmn: bytes, process_id: str | None = None) -> ImportedFile:
    """The process folder for ``bpmn``: the file unchanged and a manifest beside it."""
    name = PurePath(file_name).name or "diagram.bpmn"
    if not name.endswith(".bpmn"):
        name += ".bpmn"
    root = _root(bpmn)
    chosen, problems = (process_id, []) if process_id else _entry(name, root)
    manifest: dict[str, object] = {
        "name": _title(root, chosen) or PurePath(name).stem,
        "process_id": chosen,
        "owner_role": PROCESS_OWNER,
        "iso20000": {},
    }
    if chosen is None:
        del manifest["process_id"]  # the folder must not deploy; ``merged`` explains why
    content = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
    return ImportedFile({name: bpmn, MANIFEST_FILE: content}, chosen, problems)


def check_bpmn_file(
    file_name: str,
    bpmn: bytes,
    *,
    known_roles: Collection[str],
    library_bpmn: Mapping[str, bytes] | None = None,
    process_id: str | None = None,
) -> CheckedFolder:
    """The deploy checks of ``bpmn`` as a folder of its own; never raises for bad content."""
    imported = import_folder(file_name, bpmn, process_id)
    key = PurePath(file_name).stem or "diagram"
    checked = check_process_folder(key, imported.files, known_roles=known_roles,
                                   library_bpmn=library_bpmn)
    return replace(checked, problems=imported.merged(checked.problems))


def _root(bpmn: bytes) -> Element | None:
    try:
        return etree.fromstring(bpmn, safe_xml_parser())
    except (etree.XMLSyntaxError, ValueError):
        return None  # the deploy checks say why


def _entry(file_name: str, root: Element | None) -> tuple[str | None, list[Problem]]:
    if root is None:
        return None, []
    processes = root.findall(PROCESS, NS)
    if not processes:
        return None, [Problem(file_name, root.sourceline, root.get("id"),
                              f"{type_label(root)} defines no bpmn:process, so there is "
                              "nothing an instance could run")]
    executable = [p for p in processes if p.get("isExecutable", "true") == "true"]
    called = called_ids(root)
    candidates = [p for p in executable if p.get("id") not in called] or executable
    if not candidates:
        return str(processes[0].get("id")), []  # reported as not executable, with the rest
    collaboration = root.find("bpmn:collaboration", NS)
    if len(candidates) > 1 and collaboration is not None:
        ids = ", ".join(repr(p.get("id")) for p in candidates)
        return None, [Problem(
            file_name, collaboration.sourceline, collaboration.get("id"),
            f"{type_label(collaboration)} has {len(candidates)} executable processes ({ids}) "
            "and no manifest says which one an instance starts: choose its process_id, or "
            'set isExecutable="false" on the pools that only describe a partner')]
    return str(candidates[0].get("id")), []


def _title(root: Element | None, process_id: str | None) -> str:
    """The process's name, on one line; empty when it has none."""
    if root is None or process_id is None:
        return ""
    process = next((p for p in root.iterfind(PROCESS, NS) if p.get("id") == process_id), None)
    return " ".join((process.get("name") or "").split()) if process is not None else ""
