"""Which fields a form schema declares, and in what order a form shows them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["WILDCARD", "declared_fields", "declared_properties", "ordered_fields"]

#: In ``ui:order``, stands for "every field not named elsewhere in the list".
WILDCARD = "*"

# Keywords whose subschemas can declare more properties of the same object, e.g. a field that
# only appears when another one has some value (if/then). Listed so ``ui:order`` may name them.
_COMPOSITION_LISTS = ("allOf", "anyOf", "oneOf")
_COMPOSITION_SINGLE = ("if", "then", "else")


def declared_fields(schema: Mapping[str, Any]) -> list[str]:
    """Property names of the object ``schema`` describes, in the order the file lists them.

    Direct ``properties`` come first, then any declared only inside ``allOf``/``anyOf``/
    ``oneOf``/``if``/``then``/``else``/``dependentSchemas`` (conditional fields).
    """
    return list(declared_properties(schema))


def declared_properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Like ``declared_fields``, with each name's subschema (the first one found wins)."""
    found: dict[str, Any] = {}  # a dict keeps first-seen order and drops repeats
    for sub in _object_subschemas(schema):
        properties = sub.get("properties")
        if isinstance(properties, Mapping):
            for name, value in properties.items():
                found.setdefault(str(name), value)
    return found


def ordered_fields(declared: Sequence[str], ui_order: Sequence[str] | None) -> list[str]:
    """The order fields are shown in: ``ui_order`` with ``"*"`` expanded, else ``declared``.

    Names in ``ui_order`` that the schema does not declare are dropped, and declared fields
    that ``ui_order`` leaves out (without a ``"*"``) are appended at the end: deploy-time
    checks report both, and at run time showing every field beats hiding a required one.
    """
    if ui_order is None:
        return list(declared)
    order = list(dict.fromkeys(ui_order))  # a name listed twice is shown once
    if WILDCARD not in order:
        order.append(WILDCARD)  # left-out fields go last
    known = set(declared)
    named = {name for name in order if name in known}
    rest = [name for name in declared if name not in named]
    shown: list[str] = []
    for name in order:
        if name == WILDCARD:
            shown.extend(rest)
        elif name in known:
            shown.append(name)
    return shown


def _object_subschemas(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``schema`` and, recursively, the subschemas that describe the same object."""
    found: list[Mapping[str, Any]] = [schema]
    children: list[Any] = [schema.get(key) for key in _COMPOSITION_SINGLE]
    for key in _COMPOSITION_LISTS:
        value = schema.get(key)
        if isinstance(value, list):
            children.extend(value)
    dependent = schema.get("dependentSchemas")
    if isinstance(dependent, Mapping):
        children.extend(dependent.values())
    for child in children:
        if isinstance(child, Mapping):
            found.extend(_object_subschemas(child))
    return found
