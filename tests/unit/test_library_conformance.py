"""Every shipped process model meets what it claims, and removing the element that meets a
requirement is reported as a gap naming that requirement's clause (for every model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.conformance import check_conformance
from engine.deploy import read_folder
from engine.manifest import check_manifest
from engine.orchestrator import process_folders
from tests.support.bpmn_edits import remove_elements

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"
FOLDERS = process_folders(LIBRARY)


def _load(folder: Path):  # type: ignore[no-untyped-def]
    files = read_folder(folder)
    manifest, problems = check_manifest(files, known_roles=_roles())
    assert manifest is not None, problems
    bpmn = {name: content for name, content in files.items() if name.endswith(".bpmn")}
    return manifest, bpmn


def _roles() -> set[str]:
    import json

    return {r["name"] for r in json.loads((LIBRARY / "roles.json").read_text())["roles"]}


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_shipped_model_meets_every_requirement_it_claims(folder: Path) -> None:
    manifest, bpmn = _load(folder)
    assert manifest.requirements, f"{folder.name} claims no ISO requirement"
    result = check_conformance(manifest, bpmn)
    assert result.gaps == ()


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_removing_the_key_element_names_the_requirement_and_clause(folder: Path) -> None:
    manifest, bpmn = _load(folder)
    met = [c for c in check_conformance(manifest, bpmn).coverage if c.met]
    # The requirement met by the fewest elements: removing them must leave a gap.
    target = min(met, key=lambda c: len(c.elements))
    edited = {name: remove_elements(content, target.elements) for name, content in bpmn.items()}

    gaps = check_conformance(manifest, edited).gaps

    gap = next(g for g in gaps if g.requirement == target.requirement.id)
    for clause in target.requirement.clauses.values():
        assert clause in gap.message
