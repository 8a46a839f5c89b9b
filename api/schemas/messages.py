"""Messages from the outside world to waiting instances or message start events."""

from __future__ import annotations

from marshmallow import Schema, fields

__all__ = ["MessageOutcomeSchema", "MessageSchema"]


class MessageSchema(Schema):
    correlation = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "Values the waiting instance must match, e.g. "
                       "`{\"incident_number\": \"INC-000001\"}`."})
    payload = fields.Dict(keys=fields.String(), load_default=dict,
                          metadata={"description": "Data the message carries."})


class MessageOutcomeSchema(Schema):
    received_by = fields.List(fields.Integer(), required=True,
                              metadata={"description": "Ids of the instances that took it."})
    started = fields.Integer(required=True, allow_none=True,
                             metadata={"description": "Id of the instance it started, if any."})
