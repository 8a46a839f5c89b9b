"""Paging arguments shared by the list endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

__all__ = ["MAX_PER_PAGE", "PageArgsSchema"]

MAX_PER_PAGE = 100


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000),
                          metadata={"description": "1 for the first page."})
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PER_PAGE))
