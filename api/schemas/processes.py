"""Process models, their versions and deployment."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

__all__ = [
    "DeployOptionsSchema",
    "DeployResultSchema",
    "DeployUploadSchema",
    "GapSchema",
    "ProcessDetailSchema",
    "ProcessSummarySchema",
    "ScheduleSchema",
    "VersionSchema",
]

_ISO = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                   metadata={"description": "ISO/IEC 20000 clauses by edition, e.g. "
                                            "`{\"2018\": [\"8.6.1\"]}`."})


class ProcessSummarySchema(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    owner_role = fields.String(required=True)
    iso20000 = _ISO
    latest_version = fields.Integer(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(required=True)


class GapSchema(Schema):
    """An ISO/IEC 20000 requirement the model claims that its diagram does not meet."""

    requirement = fields.String(required=True, metadata={
        "description": "The requirement's id in the manifest, e.g. `incident.escalate`."})
    text = fields.String(required=True)
    clauses = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                          metadata={"description": "Clause by edition, e.g. "
                                                   "`{\"2018\": \"8.6.1\"}`."})
    elements = fields.List(fields.String(), required=True, metadata={
        "description": "The element ids that would meet it (none is in the diagram)."})
    message = fields.String(required=True)


class VersionSchema(Schema):
    number = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    status = fields.String(required=True)
    process_id = fields.String(required=True)
    deployed_by = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    files = fields.List(fields.String(), required=True)
    accepted_gaps = fields.List(fields.Nested(GapSchema), required=True, metadata={
        "description": "Requirements this version does not meet, accepted when it was "
                       "deployed (`accept_gaps=true`); empty when it meets all it claims."})


class ScheduleSchema(Schema):
    """When a periodic process (timer start event) next starts an instance by itself."""

    expression = fields.String(required=True, metadata={
        "description": "The timer start event's ISO 8601 value, e.g. "
                       "`R/2026-01-05T08:00:00+00:00/P1M`."})
    next_due_at = fields.DateTime(required=True, allow_none=True, metadata={
        "description": "When the next instance starts; null when no occurrence is left."})
    occurrences_started = fields.Integer(required=True, metadata={
        "description": "Instances this schedule has started (missed occurrences collapse "
                       "into one instance)."})


class ProcessDetailSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    owner_role = fields.String(required=True)
    iso20000 = _ISO
    created_at = fields.DateTime(required=True)
    version_count = fields.Integer(required=True)
    latest = fields.Nested(VersionSchema, required=True)
    start_messages = fields.List(fields.String(), required=True, metadata={
        "description": "Messages that start this process (`POST /messages/{name}`)."})
    schedule = fields.Nested(ScheduleSchema, required=True, allow_none=True, metadata={
        "description": "A periodic process's schedule; null for a process without a timer "
                       "start event."})


_ACCEPT_GAPS = ("Deploy even when the diagrams no longer meet ISO/IEC 20000 requirements "
                "the manifest claims; the gaps are recorded on the new version. Without it "
                "such a deploy is refused (422, code `conformance_gaps`).")


class DeployUploadSchema(Schema):
    files = fields.List(Upload(), required=True, validate=validate.Length(1, 100), metadata={
        "description": "The folder's .bpmn, .dmn and .json files, or one .zip of the folder."})
    accept_gaps = fields.Boolean(load_default=False, metadata={"description": _ACCEPT_GAPS})


class DeployOptionsSchema(Schema):
    accept_gaps = fields.Boolean(load_default=False, metadata={
        "description": _ACCEPT_GAPS + " The form field of the same name does the same."})


class DeployResultSchema(Schema):
    key = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={
        "description": "False when the content equals the latest version (nothing deployed)."})
    version = fields.Nested(VersionSchema, required=True)
