"""Marshmallow schemas: they validate requests and describe responses in the OpenAPI document.

Every request schema rejects unknown fields (``RAISE``), so a misspelt field is a 422, never
silently ignored.
"""
