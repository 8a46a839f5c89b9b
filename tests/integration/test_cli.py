"""The ``itsm`` command as an operator uses it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from engine import accounts
from storage.database import Database

LIBRARY = Path(__file__).resolve().parents[2] / "bpmn"


@pytest.fixture
def itsm(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"ITSM_DATABASE_URL": database_url, "ITSM_INSTANCE_DIR": str(tmp_path)}

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    return run


def test_deploy_is_idempotent_and_reports_versions(itsm) -> None:  # type: ignore[no-untyped-def]
    first = itsm("deploy", str(LIBRARY))
    assert first.exit_code == 0, first.output
    assert "deployed incident version 1" in first.output
    assert "deployed major_incident version 1" in first.output
    again = itsm("deploy", str(LIBRARY))
    assert "unchanged incident version 1" in again.output


def test_rejected_folder_exits_1_with_every_problem(itsm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert itsm("deploy", str(LIBRARY)).exit_code == 0
    broken = tmp_path / "incident"
    shutil.copytree(LIBRARY / "incident", broken)
    (broken / "resolve.schema.json").unlink()
    bpmn = broken / "incident.bpmn"
    bpmn.write_text(bpmn.read_text().replace('name="Service Desk"', 'name="Servce Desk"'))

    result = itsm("deploy", str(broken))

    assert result.exit_code == 1
    assert "REJECTED incident" in result.output
    assert "resolve.schema.json" in result.output
    assert "Servce Desk" in result.output
    checked = itsm("check", str(broken))
    assert checked.exit_code == 1 and "resolve.schema.json" in checked.output


def test_check_passes_on_the_shipped_library(itsm) -> None:  # type: ignore[no-untyped-def]
    result = itsm("check")
    assert result.exit_code == 0, result.output
    assert "ok incident" in result.output


def test_user_token_is_printed_once_and_stored_hashed(itsm, database_url: str) -> None:  # type: ignore[no-untyped-def]
    assert itsm("deploy").exit_code == 0
    result = itsm("user", "add", "sam", "--role", "Service Desk", "--token")
    assert result.exit_code == 0, result.output
    token = result.output.split("token (shown once): ")[1].strip()
    db = Database(database_url)
    try:
        with db.read() as session:
            actor = accounts.actor_for_token(session, token)
            assert actor is not None and actor.roles == frozenset({"Service Desk"})
            from sqlalchemy import select

            from storage.models import ApiToken
            stored = session.scalars(select(ApiToken.token_hash)).all()
            assert token not in stored and accounts.hash_token(token) in stored
        assert itsm("token", "revoke", token[:12]).exit_code == 0
        with db.read() as session:
            assert accounts.actor_for_token(session, token) is None
    finally:
        db.dispose()


def test_unknown_role_is_refused(itsm) -> None:  # type: ignore[no-untyped-def]
    assert itsm("deploy").exit_code == 0
    result = itsm("user", "add", "x", "--role", "Nope")
    assert result.exit_code == 1
    assert "unknown role(s): Nope" in result.output
    assert "Traceback" not in result.output


def test_demo_users_cover_every_role_and_are_idempotent(itsm) -> None:  # type: ignore[no-untyped-def]
    assert itsm("deploy").exit_code == 0
    first = itsm("demo-users")
    assert first.exit_code == 0
    for role in ("Service Desk", "Resolver Group", "Incident Manager", "Process Owner"):
        assert f"role={role}" in first.output
    assert "password=" in first.output and "token=itsm_" in first.output
    second = itsm("demo-users")
    assert "exist already" in second.output
