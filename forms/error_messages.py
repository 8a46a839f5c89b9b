"""Turning ``jsonschema`` validation errors into plain sentences at JSON Pointers.

The sentences are for service desk agents, not schema authors: they name fields by their
``title`` (else their key), never quote the schema, and say what to type instead. One
``jsonschema`` error can become several field errors (one per missing or unknown property)
so every sentence sits next to the field it is about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from forms.json_text import json_type_name
from forms.pointers import pointer

__all__ = ["field_label", "field_messages"]

Path = list[str | int]
Found = Iterator[tuple[str, str]]  # (JSON Pointer into the data, sentence)

_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "a yes/no value",
    "array": "a list",
    "object": "a group of fields",
    "null": "nothing",
}

_FORMAT_WORDS = {
    "email": "an email address, like name@example.com",
    "idn-email": "an email address, like name@example.com",
    "date": "a date, written as YYYY-MM-DD",
    "date-time": "a date and time, like 2024-05-31T14:30:00Z",
    "time": "a time of day with a time zone, like 14:30:00Z",
    "duration": "a duration, like P3D or PT4H",
    "uri": "a full web address, like https://example.com/page",
    "iri": "a full web address, like https://example.com/page",
    "uri-reference": "a web address",
    "iri-reference": "a web address",
    "hostname": "a host name, like server01.example.com",
    "idn-hostname": "a host name, like server01.example.com",
    "ipv4": "an IPv4 address, like 192.0.2.10",
    "ipv6": "an IPv6 address, like 2001:db8::10",
    "uuid": "a UUID, like 123e4567-e89b-12d3-a456-426614174000",
}


def field_messages(error: ValidationError, root: Mapping[str, Any]) -> Found:
    """Yield ``(pointer, sentence)`` for one ``jsonschema`` error; ``root`` is the form schema
    (used to find the ``title`` the form gives each field)."""
    for field, message in _messages(error, root):
        # A key used as the label ("name is required.") still starts a sentence.
        yield field, message[:1].upper() + message[1:]


def _messages(error: ValidationError, root: Mapping[str, Any]) -> Found:
    path: Path = list(error.absolute_path)
    spread = _SPREAD.get(error.validator)
    if spread is not None:
        yield from spread(error, path, root)
        return
    label = field_label(root, path, error.schema)
    yield pointer(path), _sentence(error, label)


def field_label(root: Mapping[str, Any], path: Sequence[str | int], schema: Any = None) -> str:
    """The name of the field at ``path`` as the form shows it.

    The ``title`` the form declares for that property (where a ``$ref`` points does not
    matter), else the ``title`` of ``schema`` (the subschema that failed), else the key;
    list entries are "Item 3 of Contacts".
    """
    declared = _declared_schema(root, path)
    for candidate in (declared, schema):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("title"), str):
            return str(candidate["title"])
    if not path:
        return "The form"
    last = path[-1]
    if isinstance(last, int):
        parent = path[:-1]
        return f"Item {last + 1} of {field_label(root, parent)}" if parent else f"Item {last + 1}"
    return last


# -- errors about properties that are not where the error is -------------------------------


def _required(error: ValidationError, path: Path, root: Mapping[str, Any]) -> Found:
    # jsonschema yields one error per missing property with the same data; recomputing the
    # missing names here beats parsing them back out of the English message.
    properties = _properties_of(error.schema)
    for name in _missing(error.validator_value, error.instance):
        label = field_label(root, [*path, name], properties.get(name))
        yield pointer([*path, name]), f"{label} is required."


def _dependent_required(error: ValidationError, path: Path, root: Mapping[str, Any]) -> Found:
    properties = _properties_of(error.schema)
    for trigger, needed in error.validator_value.items():
        if trigger not in error.instance:
            continue
        trigger_label = field_label(root, [*path, trigger], properties.get(trigger))
        for name in _missing(needed, error.instance):
            label = field_label(root, [*path, name], properties.get(name))
            yield pointer([*path, name]), f"{label} is required when {trigger_label} is given."


def _additional(error: ValidationError, path: Path, root: Mapping[str, Any]) -> Found:
    # Only "additionalProperties": false lands here; a subschema there reports through its
    # own keywords at the extra property's pointer.
    declared = _properties_of(error.schema)
    patterns = error.schema.get("patternProperties") or {}
    for key in error.instance:
        if key not in declared and not any(re.search(p, key) for p in patterns):
            yield pointer([*path, key]), "Unknown field."


def _unevaluated(error: ValidationError, path: Path, root: Mapping[str, Any]) -> Found:
    if error.validator_value is not False:
        yield pointer(path), _sentence(error, field_label(root, path, error.schema))
        return
    # Which keys were not evaluated is only known inside jsonschema (a private helper); its
    # message lists them with repr(), which no other key's repr can contain.
    unknown = [key for key in error.instance if repr(key) in error.message]
    for key in unknown:
        yield pointer([*path, key]), "Unknown field."
    if not unknown:
        label = field_label(root, path, error.schema)
        yield pointer(path), f"{label} contains fields that are not allowed."


def _any_of(error: ValidationError, path: Path, root: Mapping[str, Any]) -> Found:
    # With ``[{"type": "null"}, {... real rules ...}]`` the agent wants the real rule's
    # sentence, not "matches none of the options": if every branch but one failed only
    # because the value had another type, report that branch's errors.
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    relevant = [
        errors
        for errors in branches.values()
        if not all(e.validator == "type" and not e.relative_path for e in errors)
    ]
    if len(relevant) == 1:
        for sub in relevant[0]:
            yield from _messages(sub, root)
        return
    if not relevant and branches:  # wrong type for every branch: say which types would do
        expected = [t for errors in branches.values() for t in _as_list(errors[0].validator_value)]
        yield pointer(path), _type_sentence(expected, error.instance)
        return
    yield pointer(path), _sentence(error, field_label(root, path, error.schema))


_SPREAD: dict[Any, Callable[[ValidationError, Path, Mapping[str, Any]], Found]] = {
    "required": _required,
    "dependentRequired": _dependent_required,
    "additionalProperties": _additional,
    "unevaluatedProperties": _unevaluated,
    "anyOf": _any_of,
    "oneOf": _any_of,
}


# -- one sentence about the value at the error's own pointer -------------------------------


def _sentence(error: ValidationError, label: str) -> str:
    keyword = error.validator
    value = error.validator_value
    simple = _SIMPLE.get(keyword)
    if simple is not None:
        one = value == 1
        return simple.format(
            label=label, n=_show(value), s="" if one else "s", y="y" if one else "ies"
        )
    if keyword == "type":
        return _type_sentence(_as_list(value), error.instance)
    if keyword == "enum":
        return f"{label} must be one of: {', '.join(_show(choice) for choice in value)}."
    if keyword == "const":
        return f"{label} must be {_show(value)}."
    if keyword == "minLength":
        if value == 1:
            return f"{label} must not be empty."
        return f"{label} must be at least {value} characters."
    if keyword == "format":
        words = _FORMAT_WORDS.get(value, f'a valid "{value}"')
        return f"{label} must be {words}."
    if keyword in ("anyOf", "oneOf"):
        return _choice_sentence(error, label)
    if keyword is None:  # a ``false`` schema: nothing is allowed here
        return f"{label} is not allowed here."
    return f"{label}: {error.message}."


_SIMPLE: dict[Any, str] = {
    "maxLength": "{label} must be at most {n} character{s}.",
    "pattern": "{label} is not in the expected format.",
    "minimum": "{label} must be at least {n}.",
    "maximum": "{label} must be at most {n}.",
    "exclusiveMinimum": "{label} must be more than {n}.",
    "exclusiveMaximum": "{label} must be less than {n}.",
    "multipleOf": "{label} must be a multiple of {n}.",
    "minItems": "{label} must have at least {n} entr{y}.",
    "maxItems": "{label} must have at most {n} entr{y}.",
    "uniqueItems": "{label} must not list the same entry twice.",
    "minProperties": "{label} must have at least {n} field{s} filled in.",
    "maxProperties": "{label} must have at most {n} field{s} filled in.",
    "contains": "{label} must have an entry of the right kind.",
    "minContains": "{label} must have at least {n} entr{y} of the right kind.",
    "maxContains": "{label} must have at most {n} entr{y} of the right kind.",
    "not": "{label} has a value that is not allowed.",
    "unevaluatedItems": "{label} has more entries than allowed.",
    "propertyNames": "{label} contains a field name that is not allowed.",
}


def _type_sentence(expected: list[Any], instance: Any) -> str:
    words = " or ".join(dict.fromkeys(_TYPE_WORDS.get(t, str(t)) for t in expected))
    got = _TYPE_WORDS.get(json_type_name(instance), "something else")
    return f"Expected {words}, got {got}."


def _choice_sentence(error: ValidationError, label: str) -> str:
    branches = error.validator_value
    # The usual way to give choices display names: [{"const": 1, "title": "High"}, ...].
    if all(isinstance(b, Mapping) and "const" in b for b in branches):
        names = [str(b["title"]) if "title" in b else _show(b["const"]) for b in branches]
        return f"{label} must be one of: {', '.join(names)}."
    if error.validator == "oneOf" and not error.context:  # valid under several branches
        return f"{label} fits more than one of the allowed kinds of value."
    return f"{label} does not match any of the allowed kinds of value."


# -- helpers -------------------------------------------------------------------------------


def _declared_schema(root: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    """The subschema the form declares for ``path``, following properties and items only."""
    node: Any = root
    for part in path:
        if not isinstance(node, Mapping):
            return None
        if isinstance(part, int):
            prefix = node.get("prefixItems")
            if isinstance(prefix, list) and part < len(prefix):
                node = prefix[part]
            else:
                node = node.get("items")
        else:
            node = _properties_of(node).get(part)
    return node


def _properties_of(schema: Any) -> Mapping[str, Any]:
    if isinstance(schema, Mapping):
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            return properties
    return {}


def _missing(names: Any, instance: Any) -> list[str]:
    return [name for name in names if name not in instance]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _show(value: Any) -> str:
    """A schema value as an agent would type it: text bare, numbers and the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
