"""A periodic process's schedule is part of its detail: GET /processes/{key}."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.access import SYSTEM
from tests.api.conftest import ApiClient

PERIODIC = Path(__file__).resolve().parents[1] / "data" / "periodic"


def test_process_detail_shows_the_schedule(api: ApiClient) -> None:
    [result] = api.orchestrator.deploy_paths([PERIODIC], SYSTEM)
    assert result.problems == [], result.problems
    detail = api.get("/processes/periodic_review", "reader").get_json()
    schedule = detail["schedule"]
    assert set(schedule) == {"expression", "next_due_at", "occurrences_started"}
    assert schedule["expression"] == "R/2026-01-31T08:00:00+00:00/P1M"
    assert schedule["occurrences_started"] == 0
    assert datetime.fromisoformat(schedule["next_due_at"]).day in (28, 29, 30, 31)

    assert api.get("/processes/incident", "reader").get_json()["schedule"] is None
