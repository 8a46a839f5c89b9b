"""The compiled-validator cache behind validate_form."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from forms import FormSchemaError, clear_validator_cache, compiled_validator, validate_form

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["impact"],
    "properties": {"impact": {"title": "Impact", "enum": [1, 2, 3]}},
}


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    clear_validator_cache()
    yield
    clear_validator_cache()


def test_the_same_schema_object_reuses_the_validator() -> None:
    assert compiled_validator(SCHEMA) is compiled_validator(SCHEMA)


def test_an_equal_schema_reuses_the_validator_whatever_its_key_order() -> None:
    reordered = json.loads(json.dumps(SCHEMA, sort_keys=True))
    assert reordered is not SCHEMA
    assert compiled_validator(reordered) is compiled_validator(SCHEMA)


def test_different_schemas_get_different_validators() -> None:
    other = copy.deepcopy(SCHEMA)
    other["required"] = []
    assert compiled_validator(other) is not compiled_validator(SCHEMA)
    assert validate_form(other, {}) == []
    assert len(validate_form(SCHEMA, {})) == 1


def test_validate_form_compiles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import forms.validator_cache as cache

    calls: list[object] = []
    real = cache._compile

    def counting(schema: Any) -> Any:
        calls.append(schema)
        return real(schema)

    monkeypatch.setattr(cache, "_compile", counting)
    for _ in range(3):
        validate_form(SCHEMA, {"impact": 9})
    validate_form(copy.deepcopy(SCHEMA), {})
    assert len(calls) == 1


def test_the_validator_keeps_its_own_copy_of_the_schema() -> None:
    schema = copy.deepcopy(SCHEMA)
    validator = compiled_validator(schema)
    schema["required"] = []
    assert validator.schema["required"] == ["impact"]


def test_a_schema_that_is_not_json_data_is_rejected() -> None:
    with pytest.raises(FormSchemaError, match="not JSON data"):
        compiled_validator({"type": "object", "default": object()})
