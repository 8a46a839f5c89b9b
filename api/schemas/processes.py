"""Process models, their versions and deployment."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

__all__ = [
    "DeployResultSchema",
    "DeployUploadSchema",
    "ProcessDetailSchema",
    "ProcessSummarySchema",
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


class VersionSchema(Schema):
    number = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    status = fields.String(required=True)
    process_id = fields.String(required=True)
    deployed_by = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    files = fields.List(fields.String(), required=True)


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


class DeployUploadSchema(Schema):
    files = fields.List(Upload(), required=True, validate=validate.Length(1, 100), metadata={
        "description": "The folder's .bpmn, .dmn and .json files, or one .zip of the folder."})


class DeployResultSchema(Schema):
    key = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={
        "description": "False when the content equals the latest version (nothing deployed)."})
    version = fields.Nested(VersionSchema, required=True)
