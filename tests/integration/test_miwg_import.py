"""Diagrams from other tools: the 21 reference models of the OMG BPMN Model Interchange
Working Group (``../shared/bpmn-miwg``, CC BY 3.0, used unmodified).

Every one goes through the deploy validation, the import and ``itsm check FILE`` without a
crash: it deploys, or every construct this engine cannot execute is listed with element
id, type and reason. ``EXPECTED`` is the table of what each model contains that blocks it;
a change in what the checks find shows up here. None of the 21 runs as drawn (most are
documentation models, ``isExecutable="false"``, or configured for another engine), so
``REPAIRED`` deploys in-memory copies of three of them with only their blocking constructs
fixed: their foreign extension elements and attributes (Signavio, Camunda/Zeebe) come back
from storage byte for byte.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from api.cli import main
from engine.access import PROCESS_OWNER, Actor
from engine.bpmn_import import check_bpmn_file
from engine.deploy import register_roles
from engine.errors import DeployRejected, Problem
from engine.orchestrator import Orchestrator
from engine.xml_problems import BPMN_NS, type_label
from storage import migrate
from storage.database import Database

REPO = Path(__file__).resolve().parents[2]
MIWG = REPO.parent / "shared" / "bpmn-miwg"  # /work/shared beside the clone /work/main
REFERENCE = MIWG / "reference"
FILES = sorted(p.name for p in REFERENCE.glob("*.bpmn")) if REFERENCE.is_dir() else []

pytestmark = pytest.mark.skipif(
    len(FILES) != 21, reason=f"the 21 BPMN MIWG reference models are not in {REFERENCE}")

ROLES = {PROCESS_OWNER}  # the roles the checks know: lanes of the models are none of them
OWNER = Actor("paula", frozenset({PROCESS_OWNER}))

# What blocks each model, by kind (``kind_of``). Every model is rejected as drawn.
EXPECTED: dict[str, set[str]] = {
    "A.1.0.bpmn": {"process not executable"},
    "A.2.0.bpmn": {"process not executable", "gateway flow without condition"},
    "A.2.1.bpmn": {"process not executable", "implicit split", "foreign condition",
                   "condition on a plain flow", "empty expression"},
    "A.3.0.bpmn": {"process not executable", "subprocess without one start event",
                   "message without name"},
    "A.4.0.bpmn": {"process not executable", "lane not a role"},
    "A.4.1.bpmn": {"process not executable", "lane not a role"},
    "B.1.0.bpmn": {"data store", "process not executable", "empty expression", "lane not a role",
                   "message without name", "call unresolved"},
    "B.2.0.bpmn": {"data store", "process not executable", "empty expression",
                   "multi-instance without cardinality", "service task without connector",
                   "message without name", "call unresolved", "lane not a role"},
    "C.1.0.bpmn": {"lane not a role", "message without name", "timer without value",
                   "service task without connector", "foreign condition"},
    "C.1.1.bpmn": {"data store", "service task without connector", "foreign condition"},
    "C.2.0.bpmn": {"process not executable", "message without name", "lane not a role"},
    "C.3.0.bpmn": {"subprocess without one start event", "gateway flow without condition",
                   "foreign condition", "foreign timer"},
    "C.4.0.bpmn": {"several executable processes", "data store", "lane not a role",
                   "data association", "message without name", "gateway flow without condition",
                   "service task without connector", "loop without limit"},
    "C.5.0.bpmn": {"data store", "lane not a role", "data association", "signal end event",
                   "gateway flow without condition"},
    "C.6.0.bpmn": {"message without name", "empty expression", "compensation",
                   "service task without connector", "data association"},
    "C.7.0.bpmn": {"lane not a role", "data association", "service task without connector",
                   "business rule task without decision", "multi-instance without cardinality",
                   "gateway flow without condition"},
    "C.8.0.bpmn": {"process not executable", "message without name",
                   "service task without connector", "data association",
                   "business rule task without decision", "condition not Python"},
    "C.8.1.bpmn": {"data association", "service task without connector",
                   "business rule task without decision", "foreign condition",
                   "message without name"},
    "C.9.0.bpmn": {"foreign condition", "message without name", "error start event",
                   "service task without connector", "call unresolved",
                   "business rule task without decision"},
    "C.9.1.bpmn": {"message without name", "unquoted timer"},
    "C.9.2.bpmn": {"unquoted timer", "multi-instance without cardinality", "call unresolved",
                   "message without name", "foreign condition"},
}

# Kinds of problem, by what their message says (the first that matches).
_KINDS = (
    ("process not executable", r"^bpmn:process\b.* is not executable \(isExecutable="),
    ("several executable processes", r"^bpmn:collaboration .* executable processes"),
    ("data store", r"^bpmn:dataStore .* is not supported"),
    ("data association", r"which this engine cannot resolve"),
    ("gateway flow without condition", r"without condition and is not its default flow"),
    ("foreign condition", r"has a condition written in"),
    ("foreign timer", r"has a timer written in"),
    ("implicit split", r"outgoing sequence flows \(an implicit split\)"),
    ("subprocess without one start event", r"^bpmn:subProcess .* start events"),
    ("service task without connector", r"has no spiffworkflow:serviceTaskOperator"),
    ("business rule task without decision", r"names no decision table"),
    ("multi-instance without cardinality", r"is multi-instance with"),
    ("loop without limit", r"loops without a loopMaximum"),
    ("compensation", r"compensation is not supported"),
    ("signal end event", r"without throwing the signal"),
    ("error start event", r"starts only on a message, signal, timer or condition"),
    ("message without name", r"names no message|has no name; callers send messages by name"),
    ("lane not a role", r"is not a known role|the lane has no name"),
    ("timer without value", r"the timer has no timeDuration"),
    ("unquoted timer", r"the timer \w+ \S+ would be"),
    ("empty expression", r"the (condition|timer \w+) is empty"),
    ("condition on a plain flow", r"a condition on a flow that does not leave"),
    ("condition not Python", r"the condition is rejected: syntax error"),
    ("call unresolved", r"calls process .* neither in this folder nor deployed"),
)


def kind_of(problem: Problem) -> str:
    return next((kind for kind, pattern in _KINDS if re.search(pattern, problem.message)),
                f"unclassified: {problem.message}")


def _check(name: str) -> list[Problem]:
    return check_bpmn_file(name, (REFERENCE / name).read_bytes(), known_roles=ROLES).problems


# -- the deploy validation: never a crash; a reason for everything it rejects ---------------


@pytest.mark.parametrize("name", FILES)
def test_every_problem_names_element_id_type_and_reason(name: str) -> None:
    raw = (REFERENCE / name).read_bytes()
    root = etree.fromstring(raw)

    problems = _check(name)

    assert problems, f"{name} was expected to be rejected"
    for problem in problems:
        assert problem.file == name and isinstance(problem.line, int), problem
        assert problem.element_id is not None, problem
        # C.8.0 reuses its process's id in a BOC extension element: the BPMN one is meant.
        [element] = [e for e in root.xpath("//*[@id=$id]", id=problem.element_id)
                     if etree.QName(e).namespace == BPMN_NS]
        label = type_label(element)
        assert label.startswith("bpmn:") and problem.message.startswith(label), problem
        reason = problem.message.removeprefix(label).strip(" :")
        assert len(reason) > 15, problem


@pytest.mark.parametrize("name", FILES)
def test_what_blocks_each_model_is_as_expected(name: str) -> None:
    assert {kind_of(p) for p in _check(name)} == EXPECTED[name]


def test_the_table_covers_all_21_models_and_checking_them_is_quick() -> None:
    assert set(EXPECTED) == set(FILES)
    started = time.perf_counter()
    for name in FILES:
        _check(name)
    assert time.perf_counter() - started < 10


# -- the import: deploys, or is rejected with the same list; stored byte for byte ----------


def _sub(raw: bytes, *changes: tuple[bytes, bytes]) -> bytes:
    for old, new in changes:
        assert old in raw, old
        raw = raw.replace(old, new, 1)
    return raw


# In-memory copies with only what blocks them fixed, and extension markup they must keep.
REPAIRED: dict[str, tuple[tuple[tuple[bytes, bytes], ...], tuple[bytes, ...]]] = {
    "A.1.0.bpmn": (((b'isExecutable="false"', b'isExecutable="true"'),), ()),
    # Signavio: the first pool made executable (its lanes' roles are registered below).
    "A.4.1.bpmn": (((b'isExecutable="false"', b'isExecutable="true"'),),
                   (b'<signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffff"/>',
                    b'xmlns:signavio="http://www.signavio.com"')),
    # Camunda 8: the send tasks get a message and the timers quoted ISO 8601 values.
    "C.9.1.bpmn": (((b'<bpmn:sendTask id="SendTask_RequestDocument"',
                     b'<bpmn:sendTask id="SendTask_RequestDocument" messageRef="Message_req"'),
                    (b'<bpmn:sendTask id="SendTask_SendReminderEmail"',
                     b'<bpmn:sendTask id="SendTask_SendReminderEmail" messageRef="Message_req"'),
                    (b"<bpmn:collaboration ",
                     b'<bpmn:message id="Message_req" name="document_request" />\n  '
                     b"<bpmn:collaboration "),
                    (b">R6/P1D<", b'>"R6/P1D"<'), (b">P7D<", b'>"P7D"<')),
                   (b'<zeebe:subscription correlationKey="= documentReferenceId" />',
                    b'<zeebe:taskDefinition type="email" />',
                    b'camunda:topic="emailService"', b'modeler:executionPlatformVersion')),
}
LANE_ROLES = {"Lane 1": "", "Lane 2 ": "", "Lane 3": ""}  # A.4.1's lanes, as written


@pytest.fixture
def importer(database_url: str) -> Iterator[Orchestrator]:
    db = Database(database_url)
    migrate.upgrade(db)
    with db.write() as session:
        register_roles(session, {PROCESS_OWNER: "", **LANE_ROLES})
    orchestrator = Orchestrator(db)
    yield orchestrator
    db.dispose()


def test_import_rejects_each_model_with_the_checks_list_and_stores_nothing(
    importer: Orchestrator,
) -> None:
    for name in FILES:
        raw = (REFERENCE / name).read_bytes()
        with pytest.raises(DeployRejected) as rejected:
            importer.import_bpmn(f"miwg-{name[:-5]}", raw, OWNER, file_name=name)
        lanes_known = {p for p in rejected.value.problems if kind_of(p) != "lane not a role"}
        expected = {p for p in _check(name) if kind_of(p) != "lane not a role"}
        assert lanes_known == expected, name  # the same list (A.4.1's lanes are roles here)
    assert importer.processes() == []


def test_repaired_models_deploy_and_download_byte_for_byte(importer: Orchestrator) -> None:
    for name, (changes, kept) in REPAIRED.items():
        raw = _sub((REFERENCE / name).read_bytes(), *changes)
        key = f"miwg-{name[:-5]}"

        outcome = importer.import_bpmn(key, raw, OWNER, file_name=name)

        assert outcome.created and outcome.version == 1
        [version] = importer.versions(key)
        assert version.files == [name, "manifest.json"]
        stored = importer.version_file(key, 1, name)
        assert stored == raw and all(marker in stored for marker in kept)
        manifest = json.loads(importer.version_file(key, 1, "manifest.json"))
        assert manifest["process_id"] == version.process_id
        assert manifest["owner_role"] == PROCESS_OWNER and manifest["iso20000"] == {}
        assert b"manifest" not in stored and b"Process Owner" not in stored
        started = importer.start_instance(key, {}, OWNER)
        assert started.status == "running", started
        again = importer.import_bpmn(key, raw, OWNER, file_name=name)
        assert not again.created  # identical content is a no-op


# -- itsm check FILE.bpmn: exit status 0 or 1, never a traceback ----------------------------


@pytest.mark.parametrize("name", FILES)
def test_itsm_check_of_a_bpmn_file_exits_1_with_the_list(name: str) -> None:
    result = CliRunner().invoke(main, ["check", str(REFERENCE / name)])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith(f"PROBLEMS {name}\n")
    assert "Traceback" not in result.output
    assert all(line.startswith(f"  {name}:") for line in result.output.splitlines()[1:])


def test_itsm_check_of_all_21_in_one_process_prints_no_traceback(tmp_path: Path) -> None:
    files = [str(REFERENCE / name) for name in FILES]
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "check", *files], cwd=REPO, capture_output=True,
        text=True, timeout=120, env={"ITSM_INSTANCE_DIR": str(tmp_path), "PATH": "/usr/bin"},
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines()
            if not line.startswith(" ")] == FILES
