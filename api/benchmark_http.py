"""``itsm bench --http``: the incident lifecycle over real HTTP.

The app runs under waitress (the server ``itsm serve`` ships) in a process of its own on a
free loopback port with a fresh SQLite database; this process is the integrator: it starts
incidents, reads the inbox as each role, completes tasks and confirms by message, with one
keep-alive connection per role, exactly as the REST API documents it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine import accounts
from engine.access import SYSTEM
from engine.benchmark import INVESTIGATE, RECORD, RESOLVE, percentile
from engine.orchestrator import Orchestrator
from storage import migrate
from storage.database import Database

__all__ = ["run_http_benchmark"]

_ROLES = {"desk": "Service Desk", "resolver": "Resolver Group"}
_START_TIMEOUT_S = 30.0


def run_http_benchmark(lifecycles: int, library: Path, raw_per_s: float) -> dict[str, Any]:
    """Run the lifecycles over HTTP; figures keyed as the issue names them."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/http-bench.db"
        tokens = _prepare(url, library)
        port = _free_port()
        server = _start_server(url, tmp, port)
        try:
            timings = _drive(port, tokens, lifecycles)
        finally:
            server.terminate()
            server.wait(timeout=10)
    per_s = lifecycles / timings["elapsed"]
    return {
        "http_lifecycles_per_s": round(per_s, 2),
        "ratio_http_to_raw": round(per_s / raw_per_s, 3),
        "complete_p50_ms": round(percentile(timings["complete"], 50) * 1000, 3),
        "complete_p99_ms": round(percentile(timings["complete"], 99) * 1000, 3),
        "inbox_p50_ms": round(percentile(timings["inbox"], 50) * 1000, 3),
        "inbox_p99_ms": round(percentile(timings["inbox"], 99) * 1000, 3),
    }


def _prepare(url: str, library: Path) -> dict[str, str]:
    db = Database(url)
    try:
        migrate.upgrade(db)
        orchestrator = Orchestrator(db)
        rejected = [r for r in orchestrator.deploy_paths([library], SYSTEM) if r.problems]
        if rejected:
            raise RuntimeError(f"library did not deploy: {rejected[0].problems[:3]}")
        with db.write() as session:
            tokens = {}
            for who, role in _ROLES.items():
                accounts.ensure_user(session, f"bench-{who}", [role])
                tokens[who] = accounts.create_token(session, f"bench-{who}")
        return tokens
    finally:
        db.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(url: str, instance_dir: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ITSM_DATABASE_URL": url, "ITSM_INSTANCE_DIR": instance_dir,
           "ITSM_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("the benchmark server exited at start-up") from None
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the benchmark server did not start listening in time")


class _Client:
    """One keep-alive connection with one caller's token."""

    def __init__(self, port: int, token: str) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[Any, float]:
        payload = None if body is None else json.dumps(body)
        started = time.perf_counter()
        self._conn.request(method, "/api/v1" + path, body=payload, headers=self._headers)
        response = self._conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data), elapsed

    def close(self) -> None:
        self._conn.close()


def _drive(port: int, tokens: dict[str, str], lifecycles: int) -> dict[str, Any]:
    desk, resolver = _Client(port, tokens["desk"]), _Client(port, tokens["resolver"])
    complete: list[float] = []
    inbox: list[float] = []
    started = time.perf_counter()
    try:
        for _ in range(lifecycles):
            outcome, _ = desk.call("POST", "/processes/incident/instances", {"data": {}})
            key = outcome["business_key"]
            for client, data in ((desk, RECORD), (resolver, INVESTIGATE), (resolver, RESOLVE)):
                task_id = _find_task(client, key, inbox)
                _, took = client.call("POST", f"/tasks/{task_id}/complete", data)
                complete.append(took)
            desk.call("POST", "/messages/incident_confirmation",
                      {"correlation": {"incident_number": key}, "payload": {"accepted": True}})
    finally:
        desk.close()
        resolver.close()
    return {"elapsed": time.perf_counter() - started, "complete": complete, "inbox": inbox}


def _find_task(client: _Client, business_key: str, inbox: list[float]) -> str:
    page, took = client.call("GET", "/tasks?process=incident&per_page=50")
    inbox.append(took)
    for item in page["items"]:
        if item["business_key"] == business_key:
            return str(item["id"])
    raise RuntimeError(f"no inbox task for {business_key}")
