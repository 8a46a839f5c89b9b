"""load_form and Form.field_order."""

from __future__ import annotations

import pytest

from forms import Form, FormFileError, FormRef, load_form

SCHEMA = b"""{"type": "object", "properties": {
    "summary": {"type": "string"}, "impact": {"type": "integer"}, "urgency": {}}}"""

FILES = {
    "triage.schema.json": SCHEMA,
    "triage.ui.json": b'{"ui:order": ["impact", "*"]}',
    "full-order.ui.json": b'{"ui:order": ["urgency", "impact", "summary"]}',
    "broken.json": b'{\n  "type": "object",\n  oops\n}',
    "list.json": b"[1, 2]",
}


def test_form_ref_names_the_files() -> None:
    ref = FormRef("triage.schema.json", "triage.ui.json")
    form = load_form(FILES, ref.schema_name, ref.ui_name)
    assert form.schema["properties"]["impact"] == {"type": "integer"}
    assert form.ui_schema == {"ui:order": ["impact", "*"]}
    assert FormRef("triage.schema.json").ui_name is None


def test_without_ui_schema_fields_come_in_schema_order() -> None:
    form = load_form(FILES, "triage.schema.json", None)
    assert form.ui_schema == {}
    assert form.field_order() == ["summary", "impact", "urgency"]


def test_ui_order_with_wildcard() -> None:
    form = load_form(FILES, "triage.schema.json", "triage.ui.json")
    assert form.field_order() == ["impact", "summary", "urgency"]


def test_ui_order_in_full() -> None:
    form = load_form(FILES, "triage.schema.json", "full-order.ui.json")
    assert form.field_order() == ["urgency", "impact", "summary"]


def test_ui_order_never_hides_a_field_or_shows_an_unknown_one() -> None:
    form = Form(
        schema={"type": "object", "properties": {"a": {}, "b": {}, "c": {}}},
        ui_schema={"ui:order": ["c", "ghost", "c"]},
    )
    assert form.field_order() == ["c", "a", "b"]


def test_missing_file() -> None:
    with pytest.raises(FormFileError) as caught:
        load_form(FILES, "nope.json", None)
    assert caught.value.file == "nope.json"
    assert str(caught.value) == "nope.json: The form file is missing."


def test_missing_ui_file() -> None:
    with pytest.raises(FormFileError, match=r"missing\.ui\.json"):
        load_form(FILES, "triage.schema.json", "missing.ui.json")


def test_not_json_names_file_line_and_column() -> None:
    with pytest.raises(FormFileError) as caught:
        load_form(FILES, "broken.json", None)
    error = caught.value
    assert (error.file, error.line, error.column) == ("broken.json", 3, 3)
    assert str(error).startswith("broken.json:3:3: The file is not valid JSON")
    assert isinstance(error, ValueError)


def test_not_an_object() -> None:
    with pytest.raises(FormFileError, match="must hold a JSON object"):
        load_form(FILES, "triage.schema.json", "list.json")
