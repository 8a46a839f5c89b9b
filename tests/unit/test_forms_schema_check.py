"""check_form_schema and check_ui_schema: deploy-time sentences about form files."""

from __future__ import annotations

from typing import Any

from forms import check_form_schema, check_ui_schema

GOOD = b"""{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {"level": {"enum": [1, 2, 3]}},
  "properties": {
    "summary": {"type": "string", "title": "Summary"},
    "impact": {"$ref": "#/$defs/level"},
    "reporter": {"type": "string", "format": "email"}
  }
}"""

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "impact": {"type": "integer"},
        "contacts": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {}, "email": {}}},
        },
    },
    "if": {"properties": {"impact": {"const": 1}}},
    "then": {"properties": {"major_incident_manager": {"type": "string"}}},
}


def test_a_good_schema_has_no_problems() -> None:
    assert check_form_schema(GOOD) == []
    assert check_form_schema(GOOD.decode()) == []


def test_not_json_gives_line_and_column() -> None:
    [problem] = check_form_schema(b'{\n  "type": "object",\n  "properties": {,}\n}')
    assert "not valid JSON" in problem
    assert "line 3, column 18" in problem


def test_not_utf8() -> None:
    [problem] = check_form_schema(b'{"title": "\xff"}')
    assert "UTF-8" in problem


def test_not_an_object() -> None:
    assert check_form_schema("[]") == ["The form file must hold a JSON object, not a list."]


def test_invalid_json_schema_says_where() -> None:
    raw = '{"type": "object", "properties": {"a": {"type": "strin"}, "b": {"minLength": -1}}}'
    problems = check_form_schema(raw)
    assert len(problems) == 2
    assert problems[0].startswith("Not a valid JSON Schema at /properties/a/type: 'strin'")
    assert problems[1].startswith("Not a valid JSON Schema at /properties/b/minLength: -1")


def test_top_level_type_must_be_object() -> None:
    assert check_form_schema('{"type": "array"}') == [
        'The top-level "type" must be "object" (a form is a set of named fields), not "array".'
    ]
    assert check_form_schema("{}") == ['The form must say "type": "object" at the top level.']


def test_another_draft_is_rejected() -> None:
    raw = '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}'
    [problem] = check_form_schema(raw)
    assert "draft 2020-12" in problem


def test_refs_must_stay_inside_the_file_and_lead_somewhere() -> None:
    raw = """{"type": "object", "properties": {
        "a": {"$ref": "https://example.com/shared.json"},
        "b": {"$ref": "#/$defs/missing"},
        "c": {"const": {"$ref": "data, not a reference"}}}}"""
    problems = check_form_schema(raw)
    assert len(problems) == 2
    assert "/properties/a" in problems[0] and "outside the form file" in problems[0]
    assert "/properties/b" in problems[1] and "points at nothing" in problems[1]


def test_unknown_format_is_reported() -> None:
    raw = '{"type": "object", "properties": {"mail": {"type": "string", "format": "emial"}}}'
    [problem] = check_form_schema(raw)
    assert '"emial"' in problem and "/properties/mail" in problem


def test_ui_schema_that_is_fine() -> None:
    ui = """{"ui:order": ["impact", "*"], "summary": {"ui:widget": "textarea"},
             "contacts": {"items": {"ui:order": ["email", "name"]}},
             "major_incident_manager": {"ui:help": "Only for impact 1"}}"""
    assert check_ui_schema(ui, SCHEMA) == []


def test_ui_schema_must_be_json_object() -> None:
    assert check_ui_schema("[]", SCHEMA) == [
        "The UI schema file must hold a JSON object, not a list."
    ]
    [problem] = check_ui_schema(b'{"ui:order": [}', SCHEMA)
    assert "line 1, column 15" in problem


def test_ui_order_naming_an_unknown_field() -> None:
    assert check_ui_schema('{"ui:order": ["summary", "colour", "*"]}', SCHEMA) == [
        '"ui:order" names "colour", which is not a field of the form.'
    ]


def test_ui_order_without_wildcard_must_name_every_field() -> None:
    ui = '{"ui:order": ["summary", "summary"], "contacts": {"items": {"ui:order": ["mail"]}}}'
    assert check_ui_schema(ui, SCHEMA) == [
        '"ui:order" names "summary" more than once.',
        '"ui:order" leaves out "impact", "contacts", "major_incident_manager"; list them, '
        'or add "*" to stand for the rest.',
        '"ui:order" (at /contacts/items) names "mail", which is not a field of the form.',
        '"ui:order" (at /contacts/items) leaves out "name", "email"; list them, '
        'or add "*" to stand for the rest.',
    ]


def test_ui_order_must_be_a_list_of_names_and_unknown_keys_are_reported() -> None:
    assert check_ui_schema('{"ui:order": "summary", "colour": {}}', SCHEMA) == [
        '"ui:order" must be a list of field names.',
        'The UI schema names "colour", which is not a field of the form.',
    ]
