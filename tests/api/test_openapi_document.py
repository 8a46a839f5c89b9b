"""The OpenAPI document and the browsable docs page, as a client developer meets them."""

from __future__ import annotations

import re

from tests.api.conftest import ApiClient

CONTRACT = {
    ("get", "/api/v1/processes"), ("get", "/api/v1/processes/{key}"),
    ("get", "/api/v1/processes/{key}/versions"), ("post", "/api/v1/processes/{key}/versions"),
    ("get", "/api/v1/processes/{key}/versions/{number}/files/{name}"),
    ("post", "/api/v1/processes/{key}/instances"), ("get", "/api/v1/instances"),
    ("get", "/api/v1/instances/{instance_id}"), ("get", "/api/v1/instances/{instance_id}/events"),
    ("post", "/api/v1/instances/{instance_id}/cancel"), ("get", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{task_id}"), ("post", "/api/v1/tasks/{task_id}/claim"),
    ("post", "/api/v1/tasks/{task_id}/unclaim"), ("post", "/api/v1/tasks/{task_id}/complete"),
    ("post", "/api/v1/messages/{name}"),
}


def test_the_document_covers_the_contract_with_problem_responses(api: ApiClient) -> None:
    document = api.get("/api/v1/openapi.json", None).get_json()
    assert document["openapi"].startswith("3.")
    operations = {(method, path): op for path, item in document["paths"].items()
                  for method, op in item.items() if method in ("get", "post")}
    assert set(operations) == CONTRACT
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "code"} <= set(problem["required"])
    for (method, path), operation in operations.items():
        assert operation["summary"], (method, path)
        assert "401" in operation["responses"], (method, path)
        assert operation["responses"]["default"]["$ref"].endswith("DEFAULT_ERROR")
    error = document["components"]["responses"]["NOT_FOUND"]["content"]
    assert list(error) == ["application/problem+json"]
    assert document["security"] == [{"bearerAuth": []}]


def test_the_docs_page_loads_nothing_from_other_servers(api: ApiClient) -> None:
    page = api.get("/api/v1/docs", None)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api/v1/docs/assets/") for s in sources), sources
    assert '"validatorUrl": null' in html
    for source in sources:
        assert api.get(source, None).status_code == 200, source
    assert '"/api/v1/openapi.json"' in html
