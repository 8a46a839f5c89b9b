"""The test harness itself: the throwaway PostgreSQL server and the per-test databases."""

from __future__ import annotations

import os

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.support.pg_cluster import psycopg_conninfo


@pytest.mark.postgres
def test_postgres_server_answers_on_loopback_only(postgres_url: str) -> None:
    assert make_url(postgres_url).host == "127.0.0.1"
    with psycopg.connect(psycopg_conninfo(postgres_url)) as conn:
        version = conn.execute("select version()").fetchone()
        assert version is not None and version[0].startswith("PostgreSQL ")
        server_addr = conn.execute("select host(inet_server_addr())").fetchone()
        assert server_addr == ("127.0.0.1",)
        if not os.environ.get("ITSM_TEST_POSTGRES_URL"):  # a server we started ourselves
            listen = conn.execute("SHOW listen_addresses").fetchone()
            assert listen == ("127.0.0.1",)


def test_database_url_gives_an_empty_usable_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            assert conn.execute(text("select 1")).scalar_one() == 1
            conn.execute(text("create table probe (id integer primary key, note text)"))
            conn.execute(text("insert into probe (id, note) values (1, 'ü')"))
        with engine.connect() as conn:
            assert conn.execute(text("select note from probe")).scalar_one() == "ü"
    finally:
        engine.dispose()


def test_database_url_is_fresh_for_every_test(database_url: str) -> None:
    # the previous test left a table behind in its database; this one must not see it
    engine = create_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
