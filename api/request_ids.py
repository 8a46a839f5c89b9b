"""A request id per request: in ``g``, the ``X-Request-ID`` response header and the log.

Error bodies carry it too (``request_id``), so a user who reports a 500 hands over the id
that finds the logged exception.
"""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request

__all__ = ["HEADER", "init_request_ids"]

HEADER = "X-Request-ID"

access_log = logging.getLogger("api.access")


def init_request_ids(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_stamp)


def _assign() -> None:
    g.request_id = str(uuid.uuid4())
    g.started = time.perf_counter()


def _stamp(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # an error before any before_request function ran
        request_id = g.request_id = str(uuid.uuid4())
    response.headers[HEADER] = request_id
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    access_log.info("%s %s %s %.1fms [request_id=%s]", request.method, request.path,
                    response.status_code, elapsed_ms, request_id)
    return response
