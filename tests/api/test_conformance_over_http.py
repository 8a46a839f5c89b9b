"""Deploying over HTTP a diagram that no longer meets an ISO 20000 requirement it claims."""

from __future__ import annotations

import io
from typing import Any

from tests.api.conftest import LIBRARY, ApiClient, assert_problem
from tests.support.bpmn_edits import remove_elements, rename_element

REVIEW = "Activity_review_escalation"
CLAUSES = {"2011": "8.1", "2018": "8.6.1"}


def _folder(bpmn: bytes) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((LIBRARY / "incident").iterdir())}
    return {**files, "incident.bpmn": bpmn}


def _without_review() -> dict[str, bytes]:
    original = (LIBRARY / "incident" / "incident.bpmn").read_bytes()
    return _folder(remove_elements(original, {REVIEW, "Flow_escalate",
                                              "Flow_escalation_reviewed",
                                              "Event_escalation_handled"}))


def _review_renamed() -> dict[str, bytes]:
    original = (LIBRARY / "incident" / "incident.bpmn").read_bytes()
    return _folder(rename_element(original, REVIEW, "Activity_manager_look"))


def _multipart(files: dict[str, bytes], **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {"files": [(io.BytesIO(c), name) for name, c in files.items()]}
    return {"data": {**data, **fields}, "content_type": "multipart/form-data"}


def test_422_conformance_gaps_names_requirement_and_clause(api: ApiClient) -> None:
    response = api.post("/processes/incident/versions", "owner", **_multipart(_without_review()))

    body = assert_problem(response, 422, "conformance_gaps")
    assert "accept_gaps" in body["detail"]
    [error] = body["errors"]
    assert set(error) == {"requirement", "clauses", "message"}
    assert (error["requirement"], error["clauses"]) == ("incident.escalate.hierarchical", CLAUSES)
    assert "ISO/IEC 20000-1:2018 8.6.1" in error["message"]
    assert f"{REVIEW} is not in the diagram" in error["message"]
    assert api.get("/processes/incident").get_json()["version_count"] == 1

    misspelt = api.post("/processes/incident/versions", "owner",
                        **_multipart(_without_review(), accept_gap="true"))
    problem = assert_problem(misspelt, 422, "invalid_input")
    assert problem["errors"] == [{"field": "/accept_gap", "location": "multipart",
                                  "message": "Unknown field."}]


def test_accepted_gaps_deploy_and_show_on_the_version(api: ApiClient) -> None:
    by_form = api.post("/processes/incident/versions", "owner",
                       **_multipart(_without_review(), accept_gaps="true"))
    assert by_form.status_code == 201, by_form.get_json()
    version = by_form.get_json()["version"]
    assert version["number"] == 2
    [gap] = version["accepted_gaps"]
    assert (gap["requirement"], gap["clauses"], gap["elements"]) == (
        "incident.escalate.hierarchical", CLAUSES, [REVIEW])
    assert gap["text"] and "8.6.1" in gap["message"]

    by_query = api.post("/processes/incident/versions?accept_gaps=true", "owner",
                        **_multipart(_review_renamed()))
    assert by_query.status_code == 201, by_query.get_json()
    assert by_query.get_json()["version"]["number"] == 3

    versions = api.get("/processes/incident/versions", "reader").get_json()
    assert [v["number"] for v in versions] == [3, 2, 1]
    assert [[g["requirement"] for g in v["accepted_gaps"]] for v in versions] == [
        ["incident.escalate.hierarchical"], ["incident.escalate.hierarchical"], []]
    latest = api.get("/processes/incident").get_json()["latest"]
    assert latest["accepted_gaps"][0]["requirement"] == "incident.escalate.hierarchical"

    # The shipped diagram meets everything again: no gaps to accept, none recorded.
    restored = api.post("/processes/incident/versions", "owner",
                        **_multipart(_folder((LIBRARY / "incident" / "incident.bpmn")
                                             .read_bytes()), accept_gaps="false"))
    assert restored.status_code == 201, restored.get_json()
    assert restored.get_json()["version"]["accepted_gaps"] == []
