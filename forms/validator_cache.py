"""Compiled JSON Schema validators, kept per form schema.

Validating a submitted form is on the hot path of completing a task, and building a
``Draft202012Validator`` (metaschema check, ``$ref`` resolver, keyword table) costs far more
than validating a small form with one. So each schema is compiled once and looked up:

* first by identity: the engine hands over the same dict for every task of a deployed
  process version, and ``id()`` is the cheapest possible key. The entry keeps the schema
  alive, so its ``id`` cannot be reused by another object while cached;
* then by canonical JSON text, so an equal schema parsed again (another worker, a reloaded
  deployment) shares the compiled validator.

Schemas must not be changed in place after they were first used to validate: the identity
entry would keep answering with the validator for the old content. The validator itself
holds a private copy, so the canonical-text entry is never wrong.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry

from forms.errors import FormSchemaError
from forms.pointers import pointer

__all__ = ["CACHE_SIZE", "CompiledValidator", "clear_validator_cache", "compiled_validator"]

#: How many schemas (and, separately, schema objects) are kept; the oldest are dropped first.
CACHE_SIZE = 256


class CompiledValidator(Protocol):
    """What ``compiled_validator`` returns (a ``jsonschema`` validator), as far as forms use it."""

    schema: Mapping[str, Any]

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        """Yield every ``jsonschema.ValidationError`` for ``instance``."""
        ...


_lock = threading.Lock()
_by_identity: OrderedDict[int, tuple[Mapping[str, Any], CompiledValidator]] = OrderedDict()
_by_text: OrderedDict[str, CompiledValidator] = OrderedDict()


def compiled_validator(schema: Mapping[str, Any]) -> CompiledValidator:
    """Return the cached draft 2020-12 validator for ``schema``, compiling it on first use.

    Format checking is on. ``$ref`` can only reach places inside the schema: the registry
    given to the validator cannot retrieve anything, where jsonschema's default would fetch
    remote references over the network.

    Raises ``FormSchemaError`` if ``schema`` is not a valid JSON Schema or not JSON at all.
    """
    entry = _by_identity.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    text = _canonical_text(schema)
    with _lock:
        validator = _by_text.get(text)
        if validator is None:
            validator = _compile(schema)
            _by_text[text] = validator
            _trim(_by_text)
        else:
            _by_text.move_to_end(text)
        _by_identity[id(schema)] = (schema, validator)
        _trim(_by_identity)
    return validator


def clear_validator_cache() -> None:
    """Forget every compiled validator (for tests and after undeploying many versions)."""
    with _lock:
        _by_identity.clear()
        _by_text.clear()


def _canonical_text(schema: Mapping[str, Any]) -> str:
    try:
        return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise FormSchemaError(f"The form schema is not JSON data: {exc}") from exc


def _compile(schema: Mapping[str, Any]) -> CompiledValidator:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = pointer(exc.absolute_path) or "the top level"
        raise FormSchemaError(f"The form schema is not valid at {where}: {exc.message}") from exc
    validator: CompiledValidator = Draft202012Validator(
        copy.deepcopy(dict(schema)),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
        registry=Registry(),
    )
    return validator


def _trim(cache: OrderedDict[Any, Any]) -> None:
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
