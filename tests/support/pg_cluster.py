"""A throwaway PostgreSQL cluster for the test suite.

``ThrowawayPostgres().start()`` runs ``initdb`` in a fresh temporary directory, starts the server
on a free TCP port on 127.0.0.1 only (durability switched off: it is thrown away), creates the
database ``itsm_test`` and exposes its SQLAlchemy URL as ``.url``. ``.stop()`` stops the server
(``pg_ctl stop -m immediate``) and removes the directory.

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``,
highest version wins); ``make postgres`` installs it. initdb and pg_ctl refuse to run as root,
so when we are root they run as the ``postgres`` system user (or ``itsm-pg``, created on demand).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

PG_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "itsm"
DEFAULT_DB = "itsm_test"
NOT_FOUND = "PostgreSQL server binaries not found: run `make test`, which installs them"
FALLBACK_USER = "itsm-pg"
PREFIX = "itsm-throwaway-pg-"


def find_bindir() -> Path:
    """The bin directory of the highest installed PostgreSQL version that has initdb and pg_ctl."""

    def version(bindir: str) -> tuple[int, ...]:
        name = Path(bindir).parent.name  # "15" or "9.6"
        return tuple(int(p) for p in re.findall(r"\d+", name)) or (0,)

    candidates = [
        d
        for d in glob.glob(PG_GLOB)
        if os.access(os.path.join(d, "initdb"), os.X_OK)
        and os.access(os.path.join(d, "pg_ctl"), os.X_OK)
    ]
    if not candidates:
        raise RuntimeError(NOT_FOUND)
    return Path(max(candidates, key=version))


def psycopg_conninfo(url: str, database: str | None = None) -> str:
    """A libpq URI for psycopg from a SQLAlchemy URL (``postgresql+psycopg://...``)."""
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def create_database_at(url: str, name: str, template: str | None = None) -> str:
    """CREATE DATABASE ``name`` on the server of ``url``; returns the new database's URL."""
    stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
    with psycopg.connect(psycopg_conninfo(url), autocommit=True) as conn:
        conn.execute(stmt)
    return with_database(url, name)


def drop_database_at(url: str, name: str) -> None:
    """DROP DATABASE ``name`` on the server of ``url``, ending any connections still open to it."""
    stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(psycopg_conninfo(url), autocommit=True) as conn:
        conn.execute(stmt)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locale() -> str:
    """C.UTF-8 (byte-order collation, Unicode case mapping) where the system has it, else C."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "C"
    names = {n.strip().lower().replace("-", "") for n in out.splitlines()}
    return "C.UTF-8" if "c.utf8" in names else "C"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unprivileged_user() -> pwd.struct_passwd:
    """The user initdb/pg_ctl run as when we are root: ``postgres``, else ``itsm-pg`` (created)."""
    for name in ("postgres", FALLBACK_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
        check=True,
        capture_output=True,
        text=True,
    )
    return pwd.getpwnam(FALLBACK_USER)


class ThrowawayPostgres:
    """A private PostgreSQL server on 127.0.0.1 in a temporary directory, for one test run."""

    def __init__(self, database: str = DEFAULT_DB) -> None:
        self.bindir = find_bindir()
        self.database = database
        self.port: int | None = None
        self.base: Path | None = None
        self.started_in: float | None = None  # seconds from initdb to a usable database
        self._user: pwd.struct_passwd | None = _unprivileged_user() if os.geteuid() == 0 else None

    # -- paths and commands ------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        assert self.base is not None
        return self.base / "sock"

    @property
    def logfile(self) -> Path:
        assert self.base is not None
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``itsm_test`` database."""
        if self.port is None:
            raise RuntimeError("the throwaway PostgreSQL server is not running")
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{self.database}"

    def _run(
        self, tool: str, *args: str, timeout: float = 120, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._user is not None:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", self._user.pw_name, "--", *cmd]
            else:
                cmd = [
                    "setpriv",
                    f"--reuid={self._user.pw_uid}",
                    f"--regid={self._user.pw_gid}",
                    "--init-groups",
                    "--",
                    *cmd,
                ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            cmd,
            cwd=cwd or self.base,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            log = ""
            if self.logfile.exists():
                log = self.logfile.read_text(errors="replace")[-4000:]
            raise RuntimeError(
                f"{what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}"
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ThrowawayPostgres:
        """initdb, start on a free loopback port, create the database. Returns self."""
        t0 = time.perf_counter()
        # Under /tmp (world-traversable), not $TMPDIR, which may sit under a 0700 home directory.
        parent = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        self.reap_orphans(Path(parent))
        self.base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        try:
            (self.base / "owner.pid").write_text(f"{os.getpid()}\n")
            self.sockdir.mkdir()
            if self._user is not None:
                for p in (self.base, self.sockdir):
                    os.chown(p, self._user.pw_uid, self._user.pw_gid)
            self._check(
                self._run(
                    "initdb",
                    "-D",
                    str(self.datadir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    f"--locale={_locale()}",
                    "--no-sync",
                ),
                "initdb",
            )
            self._start_server()
            self._check(
                self._run(
                    "createdb",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    self.database,
                ),
                "createdb",
            )
        except BaseException:
            self.stop()
            raise
        self.started_in = time.perf_counter() - t0
        return self

    def _start_server(self, attempts: int = 3) -> None:
        # The free port may be taken between probing and binding: retry with another one.
        for attempt in range(1, attempts + 1):
            port = _free_port()
            opts = (
                f"-h 127.0.0.1 -p {port} -k {self.sockdir} -c fsync=off -c synchronous_commit=off"
                " -c full_page_writes=off -c max_connections=100"
            )
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-o",
                opts,
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
            )
            if proc.returncode == 0:
                self.port = port
                return
            if attempt == attempts:
                self._check(proc, "pg_ctl start")

    def stop(self) -> None:
        """Stop the server at once and remove its directory. Safe to call more than once."""
        base, self.base, self.port = self.base, None, None
        if base is not None:
            self._destroy(base)

    def _destroy(self, base: Path) -> None:
        try:
            if (base / "data" / "postmaster.pid").exists():
                self._run(
                    "pg_ctl",
                    "-D",
                    str(base / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    timeout=60,
                    cwd=base,
                )
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def reap_orphans(self, parent: Path) -> None:
        """Stop and remove clusters left behind by earlier runs whose process is gone (killed)."""
        for base in parent.glob(f"{PREFIX}*"):
            try:
                owner = int((base / "owner.pid").read_text().strip())
            except (OSError, ValueError):
                continue  # not ours to judge
            if not _alive(owner):
                self._destroy(base)

    # -- databases ---------------------------------------------------------------------------

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (optionally cloned from ``template``); returns its URL."""
        return create_database_at(self.url, name, template)

    def drop_database(self, name: str) -> None:
        drop_database_at(self.url, name)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
