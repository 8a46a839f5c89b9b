"""The REST resources under ``/api/v1``: one module per resource, registered in order."""

from __future__ import annotations

from api.openapi import ItsmApi
from api.resources import instances, messages, processes, tasks

__all__ = ["register_resources"]


def register_resources(api: ItsmApi) -> None:
    for module in (processes, instances, tasks, messages):
        api.register_blueprint(module.blp)
