"""``/instances``: start, list, show, cancel process instances and read their audit trail."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from api.openapi import API_PREFIX, MAX_ID
from api.resources.blueprint import ResourceBlueprint, caller, orchestrator
from api.schemas.instances import (
    AuditEventSchema,
    CancelSchema,
    InstanceArgsSchema,
    InstanceDetailSchema,
    InstancePageSchema,
    OutcomeSchema,
    StartSchema,
)
from engine.queries import InstanceView
from engine.runtime import InstanceOutcome
from storage.models import AuditEvent

__all__ = ["blp", "outcome_body"]

blp = ResourceBlueprint(
    "instances", __name__, url_prefix=API_PREFIX,
    description="Process instances: start, search, inspect, cancel, audit trail.",
)

_ID = f"<int(max={MAX_ID}):instance_id>"


def outcome_body(outcome: InstanceOutcome) -> dict[str, Any]:
    """An operation's outcome with the instance's open tasks in brief."""
    return {
        "instance_id": outcome.instance_id,
        "business_key": outcome.business_key,
        "status": outcome.status,
        "error": outcome.error,
        "tasks": orchestrator().open_tasks(outcome.instance_id),
    }


@blp.route("/processes/<key:key>/instances")
class ProcessInstances(MethodView):
    @blp.arguments(StartSchema)
    @blp.response(201, OutcomeSchema)
    @blp.problems(404, 409, 413, 422)
    def post(self, body: dict[str, Any], key: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Start an instance of the latest version of a process model

        Answers with the instance's business key and its first open tasks.
        """
        outcome = orchestrator().start_instance(key, body["data"], caller(),
                                                body.get("business_key"))
        location = url_for(".Instance", instance_id=outcome.instance_id)
        return outcome_body(outcome), 201, {"Location": location}


@blp.route("/instances")
class Instances(MethodView):
    @blp.arguments(InstanceArgsSchema, location="query")
    @blp.response(200, InstancePageSchema)
    @blp.problems(422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Search instances, newest first

        Only instances the caller started, can act on or owns the process of, unless the
        caller holds the Reader or Admin role.
        """
        page, per_page = args["page"], args["per_page"]
        items, total = orchestrator().instances(
            caller(), process_key=args.get("process"), status=args.get("status"),
            business_key=args.get("business_key"), text=args.get("q"),
            limit=per_page, offset=(page - 1) * per_page,
        )
        return {"items": items, "total": total, "page": page, "per_page": per_page}


@blp.route(f"/instances/{_ID}")
class Instance(MethodView):
    @blp.response(200, InstanceDetailSchema)
    @blp.problems(403, 404)
    def get(self, instance_id: int) -> InstanceView:
        """Show an instance: status, version, data, open tasks, record fields, related"""
        return orchestrator().instance(instance_id, caller())


@blp.route(f"/instances/{_ID}/events")
class InstanceEvents(MethodView):
    @blp.response(200, AuditEventSchema(many=True))
    @blp.problems(403, 404)
    def get(self, instance_id: int) -> list[AuditEvent]:
        """Read an instance's audit trail, oldest first"""
        return orchestrator().events(instance_id, caller())


@blp.route(f"/instances/{_ID}/cancel")
class InstanceCancel(MethodView):
    @blp.arguments(CancelSchema, required=False)
    @blp.response(200, OutcomeSchema)
    @blp.problems(403, 404, 409, 422)
    def post(self, body: dict[str, Any], instance_id: int) -> dict[str, Any]:
        """Cancel a running instance

        Allowed to whoever started it, holders of the process's owner role and admins.
        """
        outcome = orchestrator().cancel_instance(instance_id, caller(), body["reason"])
        return outcome_body(outcome)
