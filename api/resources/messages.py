"""``/messages``: deliver a message to the instances waiting for it, or start a process."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.openapi import API_PREFIX
from api.resources.blueprint import ResourceBlueprint, caller, orchestrator
from api.schemas.messages import MessageOutcomeSchema, MessageSchema
from engine.events import MessageOutcome

__all__ = ["blp"]

blp = ResourceBlueprint(
    "messages", __name__, url_prefix=f"{API_PREFIX}/messages",
    description="Messages from outside: correlated to waiting instances or starting one.",
)


@blp.route("/<message_name:name>")
class Message(MethodView):
    @blp.arguments(MessageSchema)
    @blp.response(200, MessageOutcomeSchema)
    @blp.problems(404, 409, 413, 422)
    def post(self, body: dict[str, Any], name: str) -> MessageOutcome:
        """Send a message

        Goes to every instance waiting for this message whose correlation values all match,
        or, when none waits, starts the process whose start event catches it. Nothing is
        dropped: when nothing takes the message the answer is a 404 problem.
        """
        return orchestrator().deliver_message(name, body["correlation"], body["payload"],
                                              caller())
