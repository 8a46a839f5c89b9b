"""Process instances: start, list and show, cancel, audit trail, and operation outcomes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas.paging import PageArgsSchema
from api.schemas.tasks import TaskBriefSchema, TaskSummarySchema

__all__ = [
    "AuditEventSchema",
    "CancelSchema",
    "InstanceArgsSchema",
    "InstanceDetailSchema",
    "InstancePageSchema",
    "InstanceSummarySchema",
    "OutcomeSchema",
    "StartSchema",
]

STATUSES = ("running", "completed", "cancelled", "failed")


class StartSchema(Schema):
    data = fields.Dict(keys=fields.String(validate=validate.Length(1, 200)), load_default=dict,
                       metadata={"description": "Initial process data."})
    business_key = fields.String(validate=validate.Length(1, 100), metadata={
        "description": "Your own key for the instance; numbered by the process when omitted."})


class CancelSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class InstanceArgsSchema(PageArgsSchema):
    process = fields.String(validate=validate.Length(1, 100),
                            metadata={"description": "Process model key."})
    status = fields.String(validate=validate.OneOf(STATUSES))
    business_key = fields.String(validate=validate.Length(1, 100))
    q = fields.String(validate=validate.Length(1, 200),
                      metadata={"description": "Text in the title, service or business key."})


class RecordSchema(Schema):
    """Record fields the process projects from its data, for lists and search."""

    title = fields.String(required=True, allow_none=True)
    priority = fields.String(required=True, allow_none=True)
    service = fields.String(required=True, allow_none=True)
    assignee_group = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, allow_none=True)


class InstanceSummarySchema(Schema):
    id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    process_key = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "Process version number."})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    error = fields.String(required=True, allow_none=True)
    started_by = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(required=True, allow_none=True)
    record = fields.Nested(RecordSchema, required=True)


class RelatedSchema(Schema):
    instance_id = fields.Integer(required=True)
    via = fields.String(required=True, metadata={"description": "Message or signal name."})
    direction = fields.String(required=True, validate=validate.OneOf(("outgoing", "incoming")))


class InstanceDetailSchema(InstanceSummarySchema):
    data = fields.Dict(required=True)
    open_tasks = fields.List(fields.Nested(TaskSummarySchema), required=True)
    related = fields.List(fields.Nested(RelatedSchema), required=True)


class InstancePageSchema(Schema):
    items = fields.List(fields.Nested(InstanceSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class AuditEventSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "e.g. `task_completed`."})
    task_name = fields.String(required=True, allow_none=True)
    details = fields.Dict(required=True)


class OutcomeSchema(Schema):
    """Where an instance stands after an operation, with the tasks now open."""

    instance_id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    error = fields.String(required=True, allow_none=True)
    tasks = fields.List(fields.Nested(TaskBriefSchema), required=True)
