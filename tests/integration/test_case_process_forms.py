"""Every form of the case processes refuses invalid data, naming the fields, and changes nothing.

Covers every user-task form of service_request, security_incident, complaint,
supplier_dispute, design_transition, nonconformity and improvement (data and invalid changes
in ``tests/support/case_processes.py``). One instance per process walks its form path; at
each form the invalid data is refused first, then the valid data is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.clock import ManualClock
from engine.errors import FormInvalid
from engine.orchestrator import Orchestrator
from tests.integration.conftest import LIBRARY, deploy_models, find_task, snapshot
from tests.support.case_processes import CASE_PROCESSES, Wait, start, task_data, view

FORMS = [f"{key}: {title}" for key, process in CASE_PROCESSES.items() for title in process.tasks]


def test_every_form_of_the_case_processes_has_an_invalid_case() -> None:
    for key, process in CASE_PROCESSES.items():
        assert set(process.invalid) == set(process.tasks), key
        on_path = {step[0] for step in process.form_path if isinstance(step, tuple)}
        assert on_path == set(process.tasks), key
        schemas = list((LIBRARY / key).glob("*.schema.json"))
        assert len(schemas) == len(process.tasks), key
    assert len(FORMS) == 38


@pytest.mark.parametrize("key", list(CASE_PROCESSES))
def test_case_process_forms_reject_invalid_data(
    make_orchestrator: Callable[..., Orchestrator], clock: ManualClock, key: str
) -> None:
    orchestrator = deploy_models(make_orchestrator(deploy=False), key)
    process = CASE_PROCESSES[key]
    iid, _ = start(orchestrator, process)
    refused = []
    for step in process.form_path:
        if isinstance(step, Wait):
            clock.advance(step.duration)
            orchestrator.fire_due_timers()
            continue
        title, overrides = step
        actor = process.tasks[title].actor
        task = find_task(orchestrator, actor, title, iid)
        changes, fields = process.invalid[title]
        before = snapshot(orchestrator, iid)

        with pytest.raises(FormInvalid) as caught:
            orchestrator.complete_task(task.id, task_data(process, title, **changes), actor)

        assert {e.field for e in caught.value.errors} == fields, title
        assert all(e.message for e in caught.value.errors), title
        assert snapshot(orchestrator, iid) == before, title
        orchestrator.complete_task(task.id, task_data(process, title, **overrides), actor)
        refused.append(title)
    assert sorted(refused) == sorted(process.tasks)
    assert view(orchestrator, iid).status == "completed"
