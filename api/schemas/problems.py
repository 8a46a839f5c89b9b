"""The problem document (RFC 9457) every error response carries."""

from __future__ import annotations

from marshmallow import Schema, fields

__all__ = ["FieldProblemSchema", "ProblemSchema"]


class FieldProblemSchema(Schema):
    """One thing wrong with the request: a field (JSON pointer), a deployed file, or an
    ISO requirement the deployed diagrams no longer meet."""

    field = fields.String(metadata={
        "description": "JSON pointer into the request body, e.g. `/impact` (`` for the whole "
                       "body), or the name of a query parameter, e.g. `/page`.",
    })
    location = fields.String(metadata={
        "description": "`json`, `query`, `path` or `multipart` (an uploaded form)."})
    message = fields.String(required=True)
    file = fields.String(allow_none=True, metadata={"description": "Deployed file at fault."})
    line = fields.Integer(allow_none=True)
    element_id = fields.String(allow_none=True, metadata={"description": "BPMN element id."})
    requirement = fields.String(metadata={
        "description": "An ISO/IEC 20000 requirement the process model no longer meets "
                       "(code `conformance_gaps`), e.g. `incident.escalate`."})
    clauses = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "That requirement's clause by edition, e.g. `{\"2018\": \"8.6.1\"}`."})


class ProblemSchema(Schema):
    """``application/problem+json``: what went wrong, with a stable ``code`` for clients."""

    type = fields.String(required=True, metadata={"description": "URI naming the problem type."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True, metadata={"description": "The request path."})
    code = fields.String(required=True, metadata={
        "description": "Stable machine-readable code, e.g. `not_found`, `form_invalid`."})
    request_id = fields.String(required=True, metadata={
        "description": "Also in the X-Request-ID header and the server log."})
    errors = fields.List(fields.Nested(FieldProblemSchema))
