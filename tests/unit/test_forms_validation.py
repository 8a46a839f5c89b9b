"""validate_form: every error collected, at the right JSON Pointer, in plain sentences."""

from __future__ import annotations

from typing import Any

import pytest

from forms import FieldError, FormSchemaError, validate_form

INCIDENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "impact", "reporter"],
    "properties": {
        "summary": {"type": "string", "title": "Summary", "minLength": 5, "maxLength": 80},
        "impact": {"title": "Impact", "enum": [1, 2, 3]},
        "urgency": {
            "title": "Urgency",
            "oneOf": [{"const": "H", "title": "High"}, {"const": "L", "title": "Low"}],
        },
        "reporter": {"type": "string", "format": "email", "title": "Reporter email"},
        "due": {"type": "string", "format": "date", "title": "Due date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "link": {"type": "string", "format": "uri"},
        "affected_users": {"type": "integer", "minimum": 0, "title": "Affected users"},
        "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 3}]},
        "contacts": {
            "type": "array",
            "title": "Contacts",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "email": {"type": "string", "format": "email", "title": "Email"},
                },
            },
        },
    },
}

VALID = {
    "summary": "Mail server down",
    "impact": 2,
    "urgency": "H",
    "reporter": "ann@example.com",
    "due": "2024-05-31",
    "seen_at": "2024-05-31T14:30:00Z",
    "link": "https://example.com/status",
    "affected_users": 40,
    "note": None,
    "contacts": [{"name": "Ann", "email": "ann@example.com"}],
}


def errors_of(data: Any, schema: dict[str, Any] = INCIDENT) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in validate_form(schema, data):
        found.setdefault(error.field, []).append(error.message)
    return found


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def test_valid_data_has_no_errors() -> None:
    assert validate_form(INCIDENT, VALID) == []


def test_missing_required_fields_are_reported_at_their_own_pointer() -> None:
    assert validate_form(INCIDENT, {}) == [
        FieldError("/impact", "Impact is required."),
        FieldError("/reporter", "Reporter email is required."),
        FieldError("/summary", "Summary is required."),
    ]


def test_wrong_types() -> None:
    found = errors_of(with_(summary=3, affected_users="many", contacts={"name": "Ann"}))
    assert found == {
        "/summary": ["Expected text, got a whole number."],
        "/affected_users": ["Expected a whole number, got text."],
        "/contacts": ["Expected a list, got a group of fields."],
    }


def test_whole_document_of_the_wrong_type_is_reported_at_the_empty_pointer() -> None:
    assert validate_form(INCIDENT, "text") == [
        FieldError("", "Expected a group of fields, got text.")
    ]


def test_enum_lists_the_choices() -> None:
    assert errors_of(with_(impact=5)) == {"/impact": ["Impact must be one of: 1, 2, 3."]}


def test_titled_one_of_consts_list_the_titles() -> None:
    assert errors_of(with_(urgency="X")) == {"/urgency": ["Urgency must be one of: High, Low."]}


def test_lengths_and_ranges() -> None:
    found = errors_of(with_(summary="Down", affected_users=-1))
    assert found == {
        "/summary": ["Summary must be at least 5 characters."],
        "/affected_users": ["Affected users must be at least 0."],
    }


def test_min_length_of_one_reads_as_not_empty() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "minLength": 1}}}
    assert errors_of({"name": ""}, schema) == {"/name": ["Name must not be empty."]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reporter", "not-an-email", "Reporter email must be an email address"),
        ("due", "2024-13-01", "Due date must be a date, written as YYYY-MM-DD"),
        ("due", "31/05/2024", "Due date must be a date, written as YYYY-MM-DD"),
        ("seen_at", "2024-05-31 14:30", "Seen_at must be a date and time"),
        ("link", "not a uri", "Link must be a full web address"),
    ],
)
def test_formats_are_checked(field: str, value: str, message: str) -> None:
    found = errors_of(with_(**{field: value}))
    assert list(found) == [f"/{field}"]
    assert found[f"/{field}"][0].startswith(message)


def test_nested_arrays_of_objects_use_pointers_with_indexes() -> None:
    contacts = [{"name": "Ann", "email": "bad"}, {"email": "bob@example.com"}]
    assert errors_of(with_(contacts=contacts)) == {
        "/contacts/0/email": ["Email must be an email address, like name@example.com."],
        "/contacts/1/name": ["Name is required."],
    }


def test_min_items() -> None:
    assert errors_of(with_(contacts=[])) == {"/contacts": ["Contacts must have at least 1 entry."]}


def test_unknown_fields_are_reported_one_by_one() -> None:
    found = errors_of(with_(foo=1, **{"a/b": 2}))
    assert found == {"/a~1b": ["Unknown field."], "/foo": ["Unknown field."]}


def test_unevaluated_properties_false_is_reported_per_key() -> None:
    schema = {
        "type": "object",
        "allOf": [{"properties": {"a": {"type": "string"}}}],
        "unevaluatedProperties": False,
    }
    assert errors_of({"a": "x", "b": 1}, schema) == {"/b": ["Unknown field."]}


def test_nullable_any_of_reports_the_real_rule() -> None:
    assert errors_of(with_(note="abcdef")) == {"/note": ["Note must be at most 3 characters."]}
    assert errors_of(with_(note=5)) == {"/note": ["Expected nothing or text, got a whole number."]}


def test_titles_give_friendly_messages_and_keys_are_the_fallback() -> None:
    schema = {
        "type": "object",
        "required": ["impact", "cmdb_ci"],
        "properties": {"impact": {"title": "Impact", "type": "integer"}, "cmdb_ci": {}},
    }
    assert errors_of({}, schema) == {
        "/cmdb_ci": ["Cmdb_ci is required."],
        "/impact": ["Impact is required."],
    }


def test_title_next_to_a_ref_is_used() -> None:
    schema = {
        "type": "object",
        "$defs": {"level": {"enum": [1, 2, 3]}},
        "properties": {"impact": {"title": "Impact", "$ref": "#/$defs/level"}},
    }
    assert errors_of({"impact": 9}, schema) == {"/impact": ["Impact must be one of: 1, 2, 3."]}


def test_dependent_required() -> None:
    schema = {
        "type": "object",
        "properties": {"workaround": {"title": "Workaround"}, "kb": {"title": "KB article"}},
        "dependentRequired": {"workaround": ["kb"]},
    }
    assert errors_of({"workaround": "reboot"}, schema) == {
        "/kb": ["KB article is required when Workaround is given."]
    }


def test_errors_are_sorted_by_field_with_indexes_in_number_order() -> None:
    contacts = [{"name": n} for n in ["a"] * 10] + [{"name": 1}]
    contacts[2] = {"name": 2}
    fields = [e.field for e in validate_form(INCIDENT, with_(contacts=contacts, summary=1))]
    assert fields == ["/contacts/2/name", "/contacts/10/name", "/summary"]


def test_an_invalid_schema_raises_form_schema_error() -> None:
    with pytest.raises(FormSchemaError, match="/properties/a/type"):
        validate_form({"type": "object", "properties": {"a": {"type": "strin"}}}, {})


def test_remote_refs_are_never_fetched() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.invalid/x.json"}}}
    with pytest.raises(FormSchemaError, match=r"\$ref"):
        validate_form(schema, {"a": 1})
