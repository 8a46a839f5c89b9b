"""Suite-wide fixtures: a throwaway PostgreSQL server and a fresh database per test.

Fixtures
--------
``postgres_url`` (session)
    SQLAlchemy URL (``postgresql+psycopg://itsm@127.0.0.1:PORT/itsm_test``) of a PostgreSQL
    server started on first use and stopped at the end of the session. With
    ``ITSM_TEST_POSTGRES_URL`` set, that server is used instead and nothing is started.
    Tests using it are marked ``postgres`` automatically.
``database_url`` (function, parametrized ``sqlite`` / ``postgresql``)
    URL of a fresh, empty database for this test: a SQLite file under ``tmp_path``, or a new
    PostgreSQL database ``t_<hex>`` dropped at teardown.
``postgres_database_url`` (function)
    Only the PostgreSQL variant of ``database_url``.

Options: ``--no-postgres`` skips every ``postgres``-marked test (quick local runs); ``make test``
runs them all.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pg_cluster import ThrowawayPostgres, create_database_at, drop_database_at

ENV_URL = "ITSM_TEST_POSTGRES_URL"

_cluster: ThrowawayPostgres | None = None
_timings: dict[str, list[float]] = {"cluster_start": [], "database_create": []}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-postgres",
        action="store_true",
        default=False,
        help="skip tests marked 'postgres' (no PostgreSQL server is started)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="--no-postgres given")
    for item in items:
        if {"postgres_url", "postgres_database_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
        if config.getoption("--no-postgres") and item.get_closest_marker("postgres"):
            item.add_marker(skip)


def _stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        cluster, _cluster = _cluster, None
        cluster.stop()


atexit.register(_stop_cluster)  # safety net if the session ends without fixture teardown


def _stop_on_signals() -> None:
    """Stop the cluster on SIGTERM/SIGHUP too (e.g. a CI timeout), then die of the signal.

    A cluster left behind by SIGKILL is reaped by the next run (``reap_orphans``).
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        _stop_cluster()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, handler)


@pytest.fixture(scope="session")
def postgres_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """URL of the session's PostgreSQL database (started lazily, on first request)."""
    global _cluster
    if pytestconfig.getoption("--no-postgres"):
        pytest.skip("--no-postgres given")
    external = os.environ.get(ENV_URL)
    if external:
        yield external
        return
    _cluster = ThrowawayPostgres().start()
    _stop_on_signals()
    _timings["cluster_start"].append(_cluster.started_in or 0.0)
    try:
        yield _cluster.url
    finally:
        _stop_cluster()


def _new_postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server_url: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex}"
    t0 = time.perf_counter()
    url = create_database_at(server_url, name)
    _timings["database_create"].append(time.perf_counter() - t0)
    try:
        yield url
    finally:
        drop_database_at(server_url, name)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql"],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database for one test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/itsm.db"
    else:
        yield from _new_postgres_database(request)


@pytest.fixture
def postgres_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    yield from _new_postgres_database(request)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line with the cluster's start time and the per-test database creation time."""
    parts = [f"cluster started in {t:.2f}s" for t in _timings["cluster_start"]]
    created = _timings["database_create"]
    if created:
        mean_ms = sum(created) / len(created) * 1000
        parts.append(
            f"{len(created)} test database(s) created, mean {mean_ms:.0f} ms,"
            f" max {max(created) * 1000:.0f} ms"
        )
    if parts:
        terminalreporter.write_line("throwaway postgres: " + "; ".join(parts))
