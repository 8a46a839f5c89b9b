"""The generated OpenAPI document against the app itself (schemathesis, bounded examples).

Every operation is called with generated data, valid and invalid, as an Admin: no response
may be a 5xx, and every response must match what the document promises for it (status code,
content type, body schema). SQLite only, to keep the run short.

Schemathesis's own pytest integration (``schemathesis.pytest.from_fixture``) does not run
under pytest 9 (it rewrites a private node attribute), so the operations are driven here with
Hypothesis directly, one bounded run per operation, and all failures reported together.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from tests.api.conftest import ApiClient, build_api

CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[ApiClient]:
    built = build_api(f"sqlite:///{tmp_path}/itsm.db")
    yield built
    built.orchestrator.db.dispose()


def _exercise(operation: Any, headers: dict[str, str], known: dict[str, Any]) -> None:
    """Random valid and invalid cases, plus valid ones on things that exist (``known``)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE),
                  operation.as_strategy(GenerationMode.NEGATIVE)]
    names = {p.name for p in operation.path_parameters}
    if names:
        existing = {name: known[name] for name in names}
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE,
                                                path_parameters=existing))
    cases = st.one_of(strategies)

    @given(case=cases)
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _known_for(operation: Any, known: dict[str, Any]) -> dict[str, Any]:
    if operation.path.endswith("/cancel"):  # cancel a started instance, not the shared one
        return {**known, "instance_id": known["instance_id"] - 1}
    if operation.path.startswith("/api/v1/messages"):
        return {**known, "name": "incident_confirmation"}
    return known


def test_every_operation_keeps_its_documented_promises(sqlite_api: ApiClient) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", sqlite_api.app)
    headers = sqlite_api.headers("admin")
    sqlite_api.start_incident()  # one to cancel
    recorded = sqlite_api.recorded_incident()
    task = sqlite_api.task_id("admin", "Investigate and diagnose", recorded["instance_id"])
    known = {"key": "incident", "number": 1, "name": "incident.bpmn",
             "instance_id": recorded["instance_id"], "task_id": task}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        try:
            _exercise(operation, headers, _known_for(operation, known))
        except (Exception, BaseExceptionGroup) as failure:  # collect them all, then report
            failures[operation.label] = str(failure)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
