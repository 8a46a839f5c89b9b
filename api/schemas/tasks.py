"""User tasks: the inbox, one task with its form, and the form data a caller submits."""

from __future__ import annotations

from datetime import UTC

from marshmallow import INCLUDE, Schema, fields, validate

from api.schemas.paging import PageArgsSchema

__all__ = [
    "ClaimSchema",
    "FormDataSchema",
    "InboxArgsSchema",
    "TaskBriefSchema",
    "TaskDetailSchema",
    "TaskPageSchema",
    "TaskSummarySchema",
]

_NAME = validate.Length(1, 200)


class InboxArgsSchema(PageArgsSchema):
    process = fields.String(validate=_NAME, metadata={"description": "Process model key."})
    role = fields.String(validate=_NAME, metadata={"description": "Lane (role) name."})
    assignee = fields.String(validate=_NAME, metadata={"description": "User who claimed it."})
    due_before = fields.AwareDateTime(default_timezone=UTC, metadata={
        "description": "Due at or before (ISO 8601; UTC unless an offset is given)."})


class TaskBriefSchema(Schema):
    """An open task of an instance, without its form."""

    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "BPMN element id."})
    title = fields.String(required=True)
    lane = fields.String(required=True, allow_none=True)
    assignee = fields.String(required=True, allow_none=True)
    due_at = fields.DateTime(required=True, allow_none=True)


class TaskSummarySchema(Schema):
    """An inbox row: the task and the record it belongs to."""

    id = fields.String(required=True)
    instance_id = fields.Integer(required=True)
    business_key = fields.String(required=True)
    process_key = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "BPMN element id."})
    title = fields.String(required=True)
    lane = fields.String(required=True, allow_none=True)
    assignee = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(required=True, allow_none=True)
    record_title = fields.String(required=True, allow_none=True)
    priority = fields.String(required=True, allow_none=True)


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSummarySchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "Another page follows."})


class FormSchema(Schema):
    schema = fields.Dict(required=True, allow_none=True,
                         metadata={"description": "JSON Schema of the form data."})
    ui_schema = fields.Dict(required=True, allow_none=True,
                            metadata={"description": "Layout hints for rendering the form."})


class TaskDetailSchema(TaskSummarySchema):
    """A task with its form and the data the form starts from."""

    instructions = fields.String(required=True, allow_none=True)
    form = fields.Nested(FormSchema, required=True)
    data = fields.Dict(required=True, metadata={"description": "Current task data."})


class ClaimSchema(Schema):
    id = fields.String(required=True)
    assignee = fields.String(required=True, allow_none=True,
                             metadata={"description": "Who holds the task now (null: its lane)."})


class FormDataSchema(Schema):
    """The form data: any JSON object, validated against the task's JSON Schema."""

    class Meta:
        unknown = INCLUDE
