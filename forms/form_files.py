"""Loading a task's form (JSON Schema plus optional UI schema) from a deployed folder's files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forms.errors import FormFileError
from forms.form_fields import declared_fields, ordered_fields
from forms.json_text import parse_json

__all__ = ["Form", "FormRef", "load_form"]


@dataclass(frozen=True)
class FormRef:
    """Which files make up a task's form: the JSON Schema file and, optionally, a UI schema."""

    schema_name: str
    ui_name: str | None = None


@dataclass(frozen=True)
class Form:
    """A parsed form: its JSON Schema and its UI schema (``{}`` when there is none)."""

    schema: dict[str, Any]
    ui_schema: dict[str, Any] = field(default_factory=dict)

    def field_order(self) -> list[str]:
        """Top-level field names in display order: the UI schema's ``ui:order`` (with
        ``"*"`` expanded) if it has a valid one, else the order the schema declares them."""
        order = self.ui_schema.get("ui:order")
        valid = isinstance(order, list) and all(isinstance(name, str) for name in order)
        return ordered_fields(declared_fields(self.schema), order if valid else None)


def load_form(files: Mapping[str, bytes], schema_name: str, ui_name: str | None = None) -> Form:
    """Parse the form made of ``files[schema_name]`` and, if given, ``files[ui_name]``.

    Raises ``FormFileError`` (naming the file, with line and column for bad JSON) if a file
    is missing, is not UTF-8 JSON, or does not hold a JSON object. The schema's content is
    not checked here; ``check_form_schema`` does that at deploy time.
    """
    schema = _load_object(files, schema_name)
    ui_schema = _load_object(files, ui_name) if ui_name is not None else {}
    return Form(schema=schema, ui_schema=ui_schema)


def _load_object(files: Mapping[str, bytes], name: str) -> dict[str, Any]:
    if name not in files:
        raise FormFileError("The form file is missing.", file=name)
    try:
        parsed = parse_json(files[name])
    except FormFileError as exc:
        raise exc.in_file(name) from exc
    if not isinstance(parsed, dict):
        raise FormFileError("The form file must hold a JSON object.", file=name)
    return parsed
