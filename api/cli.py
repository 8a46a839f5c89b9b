"""The ``itsm`` command: database, deploy, check, users and tokens, server, worker, bench."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sys
from pathlib import Path

import click
from werkzeug.security import generate_password_hash

from api.config import PROJECT_ROOT, Settings, load_settings
from engine import accounts
from engine.access import SYSTEM
from engine.bpmn_import import check_bpmn_file
from engine.conformance import ConformanceResult, CoverageRow, check_conformance, coverage_rows
from engine.deploy import read_folder
from engine.deploy_checks import check_process_folder
from engine.errors import EngineError
from engine.manifest import Manifest, check_manifest
from engine.orchestrator import FolderResult, Orchestrator, process_folders
from storage import migrate
from storage.database import Database

DEFAULT_LIBRARY = PROJECT_ROOT / "bpmn"


def _database(settings: Settings) -> Database:
    if settings.is_sqlite:
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    return Database(settings.database_url)


def _orchestrator(settings: Settings) -> Orchestrator:
    db = _database(settings)
    if not migrate.is_current(db):
        raise click.ClickException("the database schema is not current: run `itsm db upgrade`")
    return Orchestrator(db, script_time_limit=settings.script_time_limit)


class _Group(click.Group):
    """Engine errors become one plain line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EngineError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_Group)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Run ISO/IEC 20000 service management processes from BPMN diagrams."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ctx.obj = load_settings()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Create or migrate the schema to the newest revision (safe to repeat)."""
    migrate.upgrade(_database(settings))
    click.echo(f"database is current: {_redact(settings.database_url)}")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--accept-gaps", is_flag=True,
              help="Deploy even when a folder no longer meets ISO requirements its manifest "
                   "claims; the gaps are recorded on the new version.")
@click.pass_obj
def deploy(settings: Settings, paths: tuple[Path, ...], accept_gaps: bool) -> None:
    """Deploy process folders or folders of them (default: the bundled library)."""
    orchestrator = _orchestrator(settings)
    results = orchestrator.deploy_paths(list(paths) or [DEFAULT_LIBRARY], SYSTEM,
                                        accept_gaps=accept_gaps)
    failed = False
    for result in results:
        failed |= _echo_deployed(result)
    if failed:
        sys.exit(1)


def _echo_deployed(result: FolderResult) -> bool:
    """One folder's deploy result; True when it was not deployed."""
    if result.outcome is None and result.gaps:
        click.echo(f"REJECTED {result.key}: {len(result.gaps)} conformance gap(s) "
                   f"(deploy with --accept-gaps to accept them)")
        for gap in result.gaps:
            click.echo(f"  {gap.message}")
        return True
    if result.outcome is None:
        click.echo(f"REJECTED {result.key}: {len(result.problems)} problem(s)")
        for problem in result.problems:
            click.echo(f"  {problem}")
        return True
    outcome = result.outcome
    verb = "deployed" if outcome.created else "unchanged"
    accepted = (f" with {len(outcome.accepted_gaps)} accepted conformance gap(s)"
                if outcome.accepted_gaps else "")
    click.echo(f"{verb} {result.key} version {outcome.version}{accepted}")
    for gap in outcome.accepted_gaps:
        click.echo(f"  accepted: {gap.message}")
    return False


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--report", is_flag=True,
              help="Print the clause-by-clause coverage of the library (edition, clause, "
                   "process, requirement, elements) instead of checking each folder.")
@click.option("--json", "as_json", is_flag=True, help="With --report: print it as JSON.")
def check(paths: tuple[Path, ...], report: bool, as_json: bool) -> None:
    """Validate process folders without deploying, and report ISO requirements they claim
    but no longer meet (exit status 1 on any problem or conformance gap). A .bpmn file from
    another tool is checked as a folder of its own, with the manifest an import would make."""
    if as_json and not report:
        raise click.UsageError("--json goes with --report")
    targets = list(paths) or [DEFAULT_LIBRARY]
    roles = _library_roles(DEFAULT_LIBRARY)
    for path in targets:
        roles |= _library_roles(path)
    if report:
        sys.exit(_report(targets, roles, as_json))
    failed = False
    for path in targets:
        if path.is_file():
            failed |= _check_file(path, roles)
            continue
        for folder in process_folders(path):
            failed |= _check_folder(folder, roles)
    if failed:
        sys.exit(1)


def _check_file(path: Path, roles: set[str]) -> bool:
    """Check one .bpmn file (e.g. drawn in another tool) as a process folder of its own, with
    the manifest an import would make; True when anything is wrong."""
    if path.suffix != ".bpmn":
        raise click.UsageError(f"{path} is neither a process folder nor a .bpmn file")
    # Calls resolve into the diagrams beside it, as a folder's into the folders beside it.
    library = {f.name: f.read_bytes() for f in sorted(path.parent.glob("*.bpmn")) if f != path}
    checked = check_bpmn_file(path.name, path.read_bytes(),
                              known_roles=roles | _library_roles(path.parent),
                              library_bpmn=library)
    click.echo(f"{'PROBLEMS' if checked.problems else 'ok'} {path.name}")
    for problem in checked.problems:
        click.echo(f"  {problem}")
    return bool(checked.problems)


def _check_folder(folder: Path, roles: set[str]) -> bool:
    """Check one folder and print what was found; True when anything is wrong."""
    library = {
        f"{other.name}/{f.name}": f.read_bytes()
        for other in process_folders(folder.parent) if other != folder
        for f in other.glob("*.bpmn")
    }
    files = read_folder(folder)
    checked = check_process_folder(folder.name, files, known_roles=roles, library_bpmn=library)
    conformance = (check_conformance(checked.manifest, files, roots=checked.roots())
                   if checked.manifest is not None else None)
    # Gaps in a file that is not even XML would only repeat what the problems say.
    gaps = list(conformance.gaps) if conformance and not conformance.unreadable else []
    status = "PROBLEMS" if checked.problems else "GAPS" if gaps else "ok"
    met = "" if conformance is None else _met(conformance)
    click.echo(f"{status} {folder.name}{met}")
    for problem in checked.problems:
        click.echo(f"  {problem}")
    for gap in gaps:
        click.echo(f"  gap: {gap.message}")
    for requirement, elements in (conformance.unlisted_claims if conformance else {}).items():
        click.echo(f"  note: {', '.join(elements)} claim(s) requirement {requirement!r}, "
                   f"which manifest.json does not list")
    return bool(checked.problems or gaps)


def _met(conformance: ConformanceResult) -> str:
    total = len(conformance.coverage)
    if not total:
        return " (no ISO requirements listed)"
    return f" ({total - len(conformance.gaps)}/{total} ISO requirements met)"


def _report(paths: list[Path], roles: set[str], as_json: bool) -> int:
    """Print the library's coverage clause by clause; the exit status (1: gaps or skips)."""
    results: dict[str, tuple[Manifest, ConformanceResult]] = {}
    skipped: list[str] = []
    for path in paths:
        if path.is_file():  # a diagram from another tool claims no requirements
            continue
        for folder in process_folders(path):
            files = read_folder(folder)
            manifest, _ = check_manifest(files, roles)
            if manifest is None:
                skipped.append(folder.name)
                continue
            results[folder.name] = (manifest, check_conformance(manifest, files))
    rows = coverage_rows(results)
    gaps = [(key, gap) for key, (_, result) in results.items() for gap in result.gaps]
    if as_json:
        click.echo(json.dumps({
            "rows": [_row_json(row) for row in rows],
            "gaps": [{"process": key, **gap.as_dict()} for key, gap in gaps],
            "skipped": skipped,
        }, indent=2))
    else:
        _echo_table(rows)
        claimed = sum(len(result.coverage) for _, result in results.values())
        click.echo(f"\n{claimed} requirement(s) in {len(results)} process model(s), "
                   f"{len(gaps)} gap(s)")
        for key, gap in gaps:
            click.echo(f"  gap in {key}: {gap.message}")
        for key in skipped:
            click.echo(f"  skipped {key}: its manifest.json has problems (see `itsm check`)")
    return 1 if gaps or skipped else 0


def _row_json(row: CoverageRow) -> dict[str, object]:
    return {"edition": row.edition, "clause": row.clause, "process": row.process,
            "requirement": None if row.requirement == "-" else row.requirement,
            "text": row.text, "elements": list(row.elements), "met": row.met}


def _echo_table(rows: list[CoverageRow]) -> None:
    table = [("edition", "clause", "process", "requirement", "elements")]
    for row in rows:
        if row.requirement == "-":
            elements = "(no requirement claimed)"
        else:
            elements = ", ".join(row.elements) or "GAP: no element meets it"
        table.append((row.edition, row.clause, row.process, row.requirement, elements))
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[4]]))


def _library_roles(path: Path) -> set[str]:
    roles_file = path / "roles.json"
    if not roles_file.is_file():
        return set()
    return {r["name"] for r in json.loads(roles_file.read_text())["roles"]}


@main.group()
def user() -> None:
    """Users and their roles."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="A role (lane name); repeat for several.")
@click.option("--password", is_flag=True, help="Ask for a password for browser sign-in.")
@click.option("--token", is_flag=True, help="Create an API token and print it once.")
@click.pass_obj
def user_add(settings: Settings, name: str, roles: tuple[str, ...], password: bool,
             token: bool) -> None:
    """Create a user (or add roles to an existing one)."""
    orchestrator = _orchestrator(settings)
    hashed = None
    if password:
        hashed = generate_password_hash(click.prompt("Password", hide_input=True,
                                                     confirmation_prompt=True))
    with orchestrator.db.write() as session:
        accounts.ensure_user(session, name, roles, password_hash=hashed)
        secret = accounts.create_token(session, name) if token else None
    click.echo(f"user {name} has roles: {', '.join(sorted(roles)) or '(none added)'}")
    if secret:
        click.echo(f"token (shown once): {secret}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("user_name")
@click.option("--name", default="default", help="A label to tell tokens apart.")
@click.pass_obj
def token_create(settings: Settings, user_name: str, name: str) -> None:
    """Create an API token for a user and print it once."""
    orchestrator = _orchestrator(settings)
    with orchestrator.db.write() as session:
        click.echo(accounts.create_token(session, user_name, name))


@token.command("revoke")
@click.argument("prefix")
@click.pass_obj
def token_revoke(settings: Settings, prefix: str) -> None:
    """Revoke the token whose first 12 characters are PREFIX."""
    orchestrator = _orchestrator(settings)
    with orchestrator.db.write() as session:
        accounts.revoke_token(session, prefix)
    click.echo("revoked")


@main.command("demo-users")
@click.pass_obj
def demo_users(settings: Settings) -> None:
    """Create one demo user per library role; print passwords and tokens once."""
    orchestrator = _orchestrator(settings)
    roles = sorted(_library_roles(DEFAULT_LIBRARY))
    created = []
    with orchestrator.db.write() as session:
        for role in roles:
            name = "demo-" + role.lower().replace(" ", "-")
            if accounts.user_exists(session, name):
                continue
            password = secrets.token_urlsafe(12)
            accounts.ensure_user(session, name, [role], display_name=f"Demo {role}",
                                 password_hash=generate_password_hash(password))
            created.append((name, role, password, accounts.create_token(session, name)))
    if not created:
        click.echo("demo users exist already (their passwords were printed when made)")
    for name, role, password, secret in created:
        click.echo(f"{name:28} role={role:18} password={password}  token={secret}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.pass_obj
def serve(settings: Settings, host: str, port: int, threads: int) -> None:
    """Serve the API (waitress), with the timer worker inside on the embedded default."""
    import waitress

    from api.app import create_app

    orchestrator = _orchestrator(settings)
    app = create_app(settings=settings, orchestrator=orchestrator)
    worker = None
    if settings.embedded_worker:
        worker = orchestrator.timer_worker(settings.timer_poll_seconds)
        worker.start_thread()
    click.echo(f"serving on http://{host}:{port}/ (timer worker: "
               f"{'inside' if worker else 'run `itsm worker`'})")
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="itsm")
    finally:
        if worker:
            worker.stop()


@main.command()
@click.pass_obj
def worker(settings: Settings) -> None:
    """Fire due timers until stopped (several may run against PostgreSQL)."""
    orchestrator = _orchestrator(settings)
    click.echo("timer worker running; Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt):
        orchestrator.timer_worker(settings.timer_poll_seconds).run()


@main.command()
@click.option("-n", "lifecycles", default=200, show_default=True, help="Lifecycles per run.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line.")
@click.option("--http", "over_http", is_flag=True,
              help="Also drive the lifecycles over HTTP against a waitress server.")
@click.pass_obj
def bench(settings: Settings, lifecycles: int, as_json: bool, over_http: bool) -> None:
    """Incident lifecycles: raw SpiffWorkflow vs our engine on SQLite (and PostgreSQL)."""
    from engine.benchmark import run_benchmark

    postgres = settings.database_url if not settings.is_sqlite else None
    figures = run_benchmark(lifecycles, DEFAULT_LIBRARY, postgres_url=postgres,
                            report=click.echo)
    if over_http:
        from api.benchmark_http import run_http_benchmark

        http = run_http_benchmark(lifecycles, DEFAULT_LIBRARY, figures["raw_lifecycles_per_s"])
        figures.update(http)
        click.echo(
            f"engine over HTTP (waitress, SQLite): {http['http_lifecycles_per_s']:.1f} "
            f"lifecycles/s, ratio to raw {http['ratio_http_to_raw']:.2f} (target >= 0.25); "
            f"POST complete p50 {http['complete_p50_ms']:.2f} ms p99 "
            f"{http['complete_p99_ms']:.2f} ms (target < 50); GET /tasks p50 "
            f"{http['inbox_p50_ms']:.2f} ms p99 {http['inbox_p99_ms']:.2f} ms")
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["main"]
