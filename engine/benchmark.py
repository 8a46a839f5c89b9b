"""``itsm bench``: incident lifecycles three ways in one run.

1. raw SpiffWorkflow in memory, serialising and restoring the whole workflow between steps
   (the physical limit for any product built on it);
2. our engine on SQLite (every step a transaction: lock, restore, validate, run, save,
   index rows, audit trail);
3. our engine on PostgreSQL when a URL is given.

Every run prints lifecycles per second, per-step p50/p99 latency, the bytes of stored state
per open instance and the ratio to raw.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine import clock, spiff
from engine.access import SYSTEM, Actor
from engine.deploy import read_folder
from engine.orchestrator import Orchestrator
from engine.script_sandbox import add_duration
from storage import migrate
from storage.database import Database
from storage.models import ProcessInstance

__all__ = ["INVESTIGATE", "RECORD", "RESOLVE", "percentile", "run_benchmark"]

RECORD = {
    "caller": "alice@example.com", "channel": "phone", "service": "Email",
    "category": "software", "summary": "Mailbox does not open", "impact": 2, "urgency": 2,
}
INVESTIGATE = {"assignment_group": "Applications", "findings": "Corrupt profile",
               "outcome": "resolved"}
RESOLVE = {"resolution_code": "fixed", "resolution_notes": "Rebuilt the mail profile."}
STEPS = ("start", "record", "investigate", "resolve", "confirm")
_ACTOR = Actor("bench", frozenset({"Admin"}))
Report = Callable[[str], None]


def run_benchmark(
    lifecycles: int, library: Path, *, postgres_url: str | None = None,
    report: Report = print,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"lifecycles": lifecycles}
    raw = _raw_lifecycles(library, lifecycles)
    figures.update(_figures("raw", raw, lifecycles))
    _print(report, "raw SpiffWorkflow (in memory, serialise/restore each step)", raw, lifecycles)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = _engine_lifecycles(f"sqlite:///{tmp}/bench.db", library, lifecycles)
    figures.update(_figures("engine_sqlite", sqlite, lifecycles))
    figures["state_bytes_per_instance"] = sqlite["state_bytes"]
    figures["ratio_engine_sqlite_to_raw"] = round(
        figures["engine_sqlite_lifecycles_per_s"] / figures["raw_lifecycles_per_s"], 3)
    _print(report, "engine on SQLite", sqlite, lifecycles)
    if postgres_url:
        pg = _engine_lifecycles(postgres_url, library, lifecycles)
        figures.update(_figures("engine_postgres", pg, lifecycles))
        figures["ratio_engine_postgres_to_raw"] = round(
            figures["engine_postgres_lifecycles_per_s"] / figures["raw_lifecycles_per_s"], 3)
        _print(report, "engine on PostgreSQL", pg, lifecycles)
    report(f"ratio engine/raw on SQLite: {figures['ratio_engine_sqlite_to_raw']:.2f} "
           f"(target >= 0.50); stored state per open instance: "
           f"{figures['state_bytes_per_instance']} bytes (target <= 8192)")
    return figures


# ---------------------------------------------------------------- raw SpiffWorkflow


class _RawEnvironment(spiff.TaskDataEnvironment):  # type: ignore[misc]
    def call_service(self, context: Any, **kwargs: Any) -> str:
        return '{"queued": true}'


def _raw_lifecycles(library: Path, count: int) -> dict[str, Any]:
    files = {**read_folder(library / "incident"), **read_folder(library / "major_incident")}
    bpmn = {n: c for n, c in files.items() if n.endswith(".bpmn")}
    dmn = {n: c for n, c in files.items() if n.endswith(".dmn")}
    parsed = spiff.parse_process(bpmn, dmn, "incident")
    # Plain exec/eval with the same helpers the diagrams use: the unsandboxed baseline.
    helpers = {"now": lambda: clock.now().isoformat(), "add_duration": add_duration}
    engine = spiff.PythonScriptEngine(environment=_RawEnvironment(helpers))
    serializer = spiff.full_serializer()
    timings: dict[str, list[float]] = {s: [] for s in STEPS}
    sizes: list[int] = []
    started = time.perf_counter()
    for number in range(count):
        key = f"INC-{number:06d}"
        t0 = time.perf_counter()
        wf = spiff.new_workflow(parsed, engine, {"business_key": key})
        wf.do_engine_steps()
        state = serializer.serialize_json(wf)
        timings["start"].append(time.perf_counter() - t0)
        for step, data in (("record", RECORD), ("investigate", INVESTIGATE),
                           ("resolve", RESOLVE)):
            t0 = time.perf_counter()
            wf = serializer.deserialize_json(state)
            wf.script_engine = engine
            task = spiff.ready_user_tasks(wf)[0]
            spiff.complete_user_task(wf, task.guid, data)
            wf.do_engine_steps()
            state = serializer.serialize_json(wf)
            sizes.append(len(state))
            timings[step].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        wf = serializer.deserialize_json(state)
        wf.script_engine = engine
        waiting = next(w for w in spiff.waiting_messages(wf)
                   if w.message_name == "incident_confirmation")
        spiff.deliver_message(wf, waiting.guid, "incident_confirmation", {"accepted": True},
                              {"incident_number": key})
        wf.do_engine_steps()
        assert spiff.is_completed(wf), "raw lifecycle did not complete"
        serializer.serialize_json(wf)
        timings["confirm"].append(time.perf_counter() - t0)
    return {"elapsed": time.perf_counter() - started, "timings": timings,
            "state_bytes": int(statistics.mean(sizes))}


# ---------------------------------------------------------------- our engine


def _engine_lifecycles(url: str, library: Path, count: int) -> dict[str, Any]:
    db = Database(url)
    migrate.upgrade(db)
    orchestrator = Orchestrator(db)
    rejected = [r for r in orchestrator.deploy_paths([library], SYSTEM) if r.problems]
    if rejected:
        raise RuntimeError(f"library did not deploy: {rejected[0].problems[:3]}")
    timings: dict[str, list[float]] = {s: [] for s in STEPS}
    sizes: list[int] = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        out = orchestrator.start_instance("incident", {}, _ACTOR)
        timings["start"].append(time.perf_counter() - t0)
        for step, data in (("record", RECORD), ("investigate", INVESTIGATE),
                           ("resolve", RESOLVE)):
            t0 = time.perf_counter()
            out = orchestrator.complete_task(out.ready_task_ids[0], data, _ACTOR)
            timings[step].append(time.perf_counter() - t0)
            sizes.append(_state_size(db, out.instance_id))
        t0 = time.perf_counter()
        orchestrator.deliver_message("incident_confirmation",
                                     {"incident_number": out.business_key},
                                     {"accepted": True}, _ACTOR)
        timings["confirm"].append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    _check_all_completed(db, count)
    db.dispose()
    return {"elapsed": elapsed - _measuring_overhead(timings, elapsed),
            "timings": timings, "state_bytes": int(statistics.mean(sizes))}


def _state_size(db: Database, instance_id: int) -> int:
    with db.read() as session:
        return int(session.scalar(
            select(func.length(ProcessInstance.state)).where(ProcessInstance.id == instance_id)
        ) or 0)


def _measuring_overhead(timings: dict[str, list[float]], elapsed: float) -> float:
    # The state-size reads between steps are ours, not the lifecycle's: leave them out.
    return max(0.0, elapsed - sum(sum(v) for v in timings.values()))


def _check_all_completed(db: Database, count: int) -> None:
    with db.read() as session:
        done = session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.status == "completed"))
    if done != count:
        raise RuntimeError(f"only {done} of {count} benchmark lifecycles completed")


# ---------------------------------------------------------------- figures


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def _figures(prefix: str, result: dict[str, Any], count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {
        f"{prefix}_lifecycles_per_s": round(count / result["elapsed"], 2),
        f"{prefix}_state_bytes": result["state_bytes"],
    }
    for step, values in result["timings"].items():
        figures[f"{prefix}_{step}_p50_ms"] = round(percentile(values, 50) * 1000, 3)
        figures[f"{prefix}_{step}_p99_ms"] = round(percentile(values, 99) * 1000, 3)
    return figures


def _print(report: Report, title: str, result: dict[str, Any], count: int) -> None:
    report(f"{title}: {count / result['elapsed']:.1f} lifecycles/s, "
           f"state {result['state_bytes']} bytes")
    for step, values in result["timings"].items():
        report(f"  {step:12} p50 {percentile(values, 50) * 1000:7.2f} ms   "
               f"p99 {percentile(values, 99) * 1000:7.2f} ms")


def main() -> None:  # pragma: no cover - `python -m engine.benchmark`
    figures = run_benchmark(100, Path(__file__).resolve().parent.parent / "bpmn")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
