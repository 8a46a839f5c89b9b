"""Deploy-time checks of form files: the JSON Schema of a form and its optional UI schema.

Each check returns plain sentences (an empty list when the file is fine) so a deploy can list
every problem at once instead of stopping at the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from forms.errors import FormFileError
from forms.form_fields import WILDCARD, declared_properties
from forms.json_text import json_type_name, parse_json
from forms.pointers import MISSING, pointer, resolve_pointer

__all__ = ["DRAFT_2020_12", "check_form_schema", "check_ui_schema"]

#: The only dialect forms are validated with; a form may say so in ``$schema``.
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

# The same validator ``Draft202012Validator.check_schema`` builds, kept so every problem can be
# collected (``check_schema`` raises on the first one only).
_META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)

# Keywords whose values are data, not subschemas: a "$ref" or "format" key in there is data.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})

_MAX_MESSAGE = 200


def check_form_schema(raw: bytes | str) -> list[str]:
    """Return a sentence for each thing wrong with the text of a form schema file.

    The file must be JSON (the sentence gives line and column if not), hold an object, be a
    valid JSON Schema draft 2020-12 (each problem given with where it is), say
    ``"type": "object"`` at the top level, only ``$ref`` places inside the file (forms are
    never fetched from the network) and only use a ``format`` this server checks.
    """
    try:
        schema = parse_json(raw)
    except FormFileError as exc:
        return [exc.message]
    if not isinstance(schema, dict):
        return [f"The form file must hold a JSON object, not {_a(json_type_name(schema))}."]
    problems = _dialect_problems(schema)
    meta = [_meta_problem(error) for error in _META_VALIDATOR.iter_errors(schema)]
    # jsonschema's order among sibling keywords varies from run to run; sort for stable output.
    problems += sorted(set(meta))
    problems += _top_level_type_problems(schema)
    if not meta:  # the walk below assumes keywords have the types the metaschema demands
        problems += [
            p for node, at in _schema_nodes(schema, []) for p in _node_problems(schema, node, at)
        ]
    return problems


def check_ui_schema(raw: bytes | str, schema: Mapping[str, Any]) -> list[str]:
    """Return a sentence for each thing wrong with the text of a UI schema file.

    The file must be a JSON object. A ``"ui:order"`` list may only name fields ``schema``
    declares (plus at most one ``"*"`` for "all the rest"), and without a ``"*"`` must name
    them all. Keys for nested fields (``{"contacts": {"items": {"ui:order": [...]}}}``) are
    checked the same way against the matching part of ``schema``.
    """
    try:
        ui = parse_json(raw)
    except FormFileError as exc:
        return [exc.message]
    if not isinstance(ui, dict):
        return [f"The UI schema file must hold a JSON object, not {_a(json_type_name(ui))}."]
    return _ui_node_problems(ui, schema, [])


# -- form schema ---------------------------------------------------------------------------


def _dialect_problems(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("$schema")
    if declared is None or (isinstance(declared, str) and declared.rstrip("#") == DRAFT_2020_12):
        return []
    return [
        f'The form says "$schema": {_show(declared)}, but forms are JSON Schema draft 2020-12 '
        f'("{DRAFT_2020_12}").'
    ]


def _meta_problem(error: ValidationError) -> str:
    # For "anyOf" the sub-error listing allowed values says most, e.g. for "type": "strin".
    chosen = next((e for e in error.context or () if e.validator == "enum"), error)
    where = pointer(error.absolute_path) or "the top level"
    return f"Not a valid JSON Schema at {where}: {_shorten(chosen.message)}."


def _top_level_type_problems(schema: Mapping[str, Any]) -> list[str]:
    found = schema.get("type")
    if found == "object":
        return []
    if found is None:
        return ['The form must say "type": "object" at the top level.']
    return [
        f'The top-level "type" must be "object" (a form is a set of named fields), '
        f"not {_show(found)}."
    ]


def _schema_nodes(node: Any, at: list[str | int]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object in the schema that sits where a subschema (or a map of them) may be."""
    if isinstance(node, dict):
        yield node, pointer(at)
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                yield from _schema_nodes(value, [*at, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schema_nodes(value, [*at, index])


def _node_problems(root: Mapping[str, Any], node: Mapping[str, Any], at: str) -> list[str]:
    problems = []
    ref = node.get("$ref")
    if isinstance(ref, str) and not _resolves_locally(root, ref):
        if ref.startswith("#"):
            problems.append(f'The "$ref" at {at or "the top level"} ({ref}) points at nothing.')
        else:
            problems.append(
                f'The "$ref" at {at or "the top level"} ({ref}) points outside the form file; '
                'put shared parts under "$defs" and use "#/$defs/...".'
            )
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt not in Draft202012Validator.FORMAT_CHECKER.checkers:
        problems.append(
            f'The "format" at {at or "the top level"} ("{fmt}") is not one this server '
            "checks, so any text would be accepted."
        )
    return problems


def _resolves_locally(root: Mapping[str, Any], ref: str) -> bool:
    if not ref.startswith("#"):
        return False
    fragment = unquote(ref[1:])
    if fragment == "" or fragment.startswith("/"):
        return resolve_pointer(root, fragment) is not MISSING
    # A plain name fragment refers to an "$anchor" (or "$dynamicAnchor") somewhere in the file.
    return any(
        fragment in (node.get("$anchor"), node.get("$dynamicAnchor"))
        for node, _ in _schema_nodes(root, [])
    )


# -- UI schema -----------------------------------------------------------------------------


def _ui_node_problems(ui: Mapping[str, Any], schema: Any, at: list[str | int]) -> list[str]:
    """Problems in one level of the UI schema, ``schema`` being the matching subschema."""
    schema = schema if isinstance(schema, Mapping) else {}
    properties = declared_properties(schema)
    problems = []
    if "ui:order" in ui:
        problems += _order_problems(ui["ui:order"], list(properties), at)
    for key, value in ui.items():
        if key.startswith("ui:"):
            continue
        if key in properties:
            sub = properties[key]
        elif key == "items" and isinstance(schema.get("items"), Mapping):
            sub = schema["items"]
        else:
            problems.append(
                f'The UI schema{_at(at)} names "{key}", which is not a field of the form.'
            )
            continue
        if isinstance(value, Mapping):
            problems += _ui_node_problems(value, sub, [*at, key])
        else:
            problems.append(f'The UI schema entry for "{key}"{_at(at)} must be a JSON object.')
    return problems


def _order_problems(order: Any, fields: list[str], at: list[str | int]) -> list[str]:
    where = f'"ui:order"{_at(at)}'
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        return [f"{where} must be a list of field names."]
    problems = []
    known = set(fields)
    seen: set[str] = set()
    for name in order:
        if name in seen:
            problems.append(f'{where} names "{name}" more than once.')
        elif name != WILDCARD and name not in known:
            problems.append(f'{where} names "{name}", which is not a field of the form.')
        seen.add(name)
    if WILDCARD not in seen:
        left_out = [name for name in fields if name not in seen]
        if left_out:
            listed = ", ".join(f'"{name}"' for name in left_out)
            problems.append(
                f'{where} leaves out {listed}; list them, or add "*" to stand for the rest.'
            )
    return problems


# -- wording -------------------------------------------------------------------------------


def _at(path: list[str | int]) -> str:
    return f" (at {pointer(path)})" if path else ""


def _a(type_name: str) -> str:
    return {"array": "a list", "object": "an object", "null": "null"}.get(
        type_name, f"a {type_name}"
    )


def _show(value: Any) -> str:
    return _shorten(json.dumps(value, ensure_ascii=False))


def _shorten(text: str) -> str:
    # Metaschema messages repeat the offending value, which can be a whole subschema.
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
