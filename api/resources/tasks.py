"""``/tasks``: the caller's inbox, one task with its form, claim, unclaim and complete."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from flask.views import MethodView

from api.openapi import API_PREFIX
from api.resources.blueprint import ResourceBlueprint, caller, orchestrator
from api.resources.instances import outcome_body
from api.schemas.instances import OutcomeSchema
from api.schemas.tasks import (
    ClaimSchema,
    FormDataSchema,
    InboxArgsSchema,
    TaskDetailSchema,
    TaskPageSchema,
)
from engine.queries import InboxFilter, TaskView

__all__ = ["blp"]

blp = ResourceBlueprint(
    "tasks", __name__, url_prefix=f"{API_PREFIX}/tasks",
    description="User tasks: the caller's inbox, forms, claiming and completing.",
)


@blp.route("")
class Inbox(MethodView):
    @blp.arguments(InboxArgsSchema, location="query")
    @blp.response(200, TaskPageSchema)
    @blp.problems(422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The caller's inbox

        Open tasks in the lanes of the caller's roles (unclaimed) and tasks the caller
        claimed, oldest first.
        """
        page, per_page = args["page"], args["per_page"]
        filters = InboxFilter(
            process_key=args.get("process"), role=args.get("role"),
            assignee=args.get("assignee"), due_before=args.get("due_before"),
            limit=per_page + 1, offset=(page - 1) * per_page,
        )
        tasks = orchestrator().inbox(caller(), filters)
        return {"items": tasks[:per_page], "page": page, "per_page": per_page,
                "has_more": len(tasks) > per_page}


@blp.route("/<uuid:task_id>")
class Task(MethodView):
    @blp.response(200, TaskDetailSchema)
    @blp.problems(403, 404)
    def get(self, task_id: UUID) -> dict[str, Any]:
        """Show a task with its form: JSON Schema, UI schema, current data, instructions"""
        task: TaskView = orchestrator().task(str(task_id), caller())
        body = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
        body["form"] = {"schema": task.form_schema, "ui_schema": task.form_ui_schema}
        return body


@blp.route("/<uuid:task_id>/claim")
class TaskClaim(MethodView):
    @blp.response(200, ClaimSchema)
    @blp.problems(403, 409)
    def post(self, task_id: UUID) -> dict[str, Any]:
        """Claim a task: it leaves the lane's shared inbox and is yours to complete"""
        actor = caller()
        orchestrator().claim_task(str(task_id), actor)
        return {"id": str(task_id), "assignee": actor.name}


@blp.route("/<uuid:task_id>/unclaim")
class TaskUnclaim(MethodView):
    @blp.response(200, ClaimSchema)
    @blp.problems(403, 409)
    def post(self, task_id: UUID) -> dict[str, Any]:
        """Release a claimed task back to its lane (its assignee or an admin)"""
        orchestrator().unclaim_task(str(task_id), caller())
        return {"id": str(task_id), "assignee": None}


@blp.route("/<uuid:task_id>/complete")
class TaskComplete(MethodView):
    @blp.arguments(FormDataSchema, description="The form data (validated by the task's form).")
    @blp.response(200, OutcomeSchema)
    @blp.problems(403, 409, 413, 422)
    def post(self, data: dict[str, Any], task_id: UUID) -> dict[str, Any]:
        """Complete a task with its form data

        Answers with the instance's open tasks afterwards. 422 lists the form's field errors
        (`errors[].field` is a JSON pointer such as `/impact`); 409 when the task is no longer
        open or the instance changed meanwhile.
        """
        outcome = orchestrator().complete_task(str(task_id), data, caller())
        return outcome_body(outcome)
