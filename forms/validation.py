"""Validating submitted form data against the form's JSON Schema (draft 2020-12)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from referencing.exceptions import Unresolvable

from forms.error_messages import field_messages
from forms.errors import FormSchemaError
from forms.validator_cache import compiled_validator

__all__ = ["FieldError", "validate_form"]


@dataclass(frozen=True)
class FieldError:
    """One invalid form field: where it is and what is wrong, in words an agent understands.

    ``field`` is a JSON Pointer into the submitted data (``"/impact"``,
    ``"/contacts/0/email"``; ``""`` for the whole document). ``message`` is one sentence,
    e.g. ``"Impact is required."``. The engine converts these to its own ``FieldError``.
    """

    field: str
    message: str


def validate_form(schema: Mapping[str, Any], data: Any) -> list[FieldError]:
    """Return every problem with ``data`` as a form answer to ``schema``; empty when valid.

    Formats (email, date, date-time, uri, ...) are checked. A missing required property is
    reported at its own pointer and each property ``additionalProperties: false`` rejects
    at its pointer as "Unknown field.". Errors come sorted by field (list indexes in number
    order), and the same sentence is never given twice for one field.

    The compiled validator is cached per schema (see ``forms.validator_cache``). Raises
    ``FormSchemaError`` if ``schema`` itself is unusable.
    """
    validator = compiled_validator(schema)
    found: dict[tuple[str, str], FieldError] = {}
    try:
        for error in validator.iter_errors(data):
            for field, message in field_messages(error, schema):
                found.setdefault((field, message), FieldError(field, message))
    except Unresolvable as exc:  # check_form_schema reports these at deploy time
        raise FormSchemaError(f"The form schema has a $ref that leads nowhere: {exc}") from exc
    return sorted(found.values(), key=_field_order)


def _field_order(error: FieldError) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Compare pointers segment by segment, numbers as numbers: /contacts/2 before /contacts/10.
    segments = error.field.split("/")[1:] if error.field else []
    key = tuple((0, int(s), "") if s.isdigit() else (1, 0, s) for s in segments)
    return key, error.message
