"""Edits a process owner makes in a modeler, done on BPMN bytes for tests."""

from __future__ import annotations

from collections.abc import Collection

from lxml import etree

__all__ = ["remove_elements", "rename_element"]


def remove_elements(bpmn: bytes, ids: Collection[str]) -> bytes:
    """Delete the elements with these ids, their diagram shapes and every reference to them
    (``flowNodeRef``, ``incoming``, ``outgoing``), as deleting them in a modeler would."""
    root = etree.fromstring(bpmn)
    for element in list(root.iter()):
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        names = {element.get("id"), element.get("bpmnElement"), (element.text or "").strip()}
        if names & set(ids):
            element.getparent().remove(element)
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result


def rename_element(bpmn: bytes, old: str, new: str) -> bytes:
    """Give an element another id; every reference follows (the diagram stays valid)."""
    return bpmn.replace(old.encode(), new.encode())
