"""The benchmark runs end to end and reports every figure the issue names.

Times are never asserted here (they belong to the benchmark's ratios); this only keeps the
benchmark from rotting and checks that its lifecycles really complete.
"""

from __future__ import annotations

from pathlib import Path

from engine.benchmark import run_benchmark

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"


def test_benchmark_reports_raw_and_engine_figures(postgres_database_url: str) -> None:
    lines: list[str] = []

    figures = run_benchmark(3, LIBRARY, postgres_url=postgres_database_url, report=lines.append)

    for key in ("raw_lifecycles_per_s", "engine_sqlite_lifecycles_per_s",
                "engine_postgres_lifecycles_per_s", "ratio_engine_sqlite_to_raw",
                "ratio_engine_postgres_to_raw", "state_bytes_per_instance",
                "engine_sqlite_record_p50_ms", "engine_sqlite_record_p99_ms"):
        assert figures[key] > 0, key
    assert figures["lifecycles"] == 3
    assert any(line.startswith("ratio engine/raw on SQLite") for line in lines)


def test_http_benchmark_drives_lifecycles_through_a_real_server() -> None:
    from api.benchmark_http import run_http_benchmark

    figures = run_http_benchmark(2, LIBRARY, raw_per_s=100.0)

    for key in ("http_lifecycles_per_s", "ratio_http_to_raw", "complete_p99_ms",
                "inbox_p99_ms"):
        assert figures[key] > 0, key
