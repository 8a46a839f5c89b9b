"""Connectors: the registry, ``notify`` and ``http`` (against a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.connectors import (
    HTTP_BODY_LIMIT,
    ConnectorContext,
    ConnectorRegistry,
    Notification,
    default_registry,
    flatten_params,
    http_connector,
    notify_connector,
)
from engine.errors import ConnectorFailed

SLOW_SECONDS = 2.0

# --- registry ----------------------------------------------------------------------------


def test_default_registry_has_notify_and_http() -> None:
    registry = default_registry()
    assert registry.names() == ["http", "notify"]
    assert "notify" in registry and "mail" not in registry


def test_unknown_operation_fails() -> None:
    with pytest.raises(ConnectorFailed, match="no connector named 'mail'"):
        default_registry().call("mail", {}, ConnectorContext())


def test_a_name_is_registered_once() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("notify", notify_connector)


def test_unexpected_connector_errors_become_connector_failed_with_cause() -> None:
    def broken(params: dict[str, Any], context: ConnectorContext) -> dict[str, Any]:
        raise KeyError("ticket")

    registry = ConnectorRegistry({"broken": broken})
    with pytest.raises(ConnectorFailed, match="connector 'broken' failed: KeyError") as caught:
        registry.call("broken", {}, ConnectorContext())
    assert isinstance(caught.value.__cause__, KeyError)


@pytest.mark.parametrize("result", [["not", "a", "dict"], {"when": object()}])
def test_results_must_be_json_objects(result: Any) -> None:
    registry = ConnectorRegistry({"odd": lambda params, context: result})
    with pytest.raises(ConnectorFailed, match="connector 'odd' returned"):
        registry.call("odd", {}, ConnectorContext())


def test_flatten_params() -> None:
    params = {"a": {"value": 1, "type": "int"}, "b": {"value": {"x": 1}, "type": "any"}}
    assert flatten_params(params) == {"a": 1, "b": {"x": 1}}


# --- notify ------------------------------------------------------------------------------


def test_notify_appends_to_the_outbox() -> None:
    context = ConnectorContext(instance_id="1", business_key="INC-000001")
    result = notify_connector(
        {"recipient_role": "Service Desk", "subject": "New incident", "body": "Mail is down"},
        context,
    )
    assert result == {"queued": True}
    assert context.outbox == [
        Notification(recipient=None, recipient_role="Service Desk", subject="New incident",
                     body="Mail is down", channel="email")
    ]
    notify_connector({"recipient": "ann", "subject": "s", "body": "", "channel": "chat"}, context)
    assert context.outbox[1].recipient == "ann" and context.outbox[1].channel == "chat"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"subject": "s", "body": "b"}, "needs a recipient or a recipient_role"),
        ({"recipient": " ", "subject": "s", "body": "b"}, "needs a recipient or a recipient_role"),
        ({"recipient": "ann", "body": "b"}, "needs a non-empty subject"),
        ({"recipient": "ann", "subject": "s"}, "needs a body"),
        ({"recipient": 7, "subject": "s", "body": "b"}, "recipient must be a string"),
        ({"recipent": "ann", "subject": "s", "body": "b"}, "does not take the parameter"),
    ],
)
def test_notify_rejects_bad_params(params: dict[str, Any], expected: str) -> None:
    context = ConnectorContext()
    with pytest.raises(ConnectorFailed, match=expected):
        notify_connector(params, context)
    assert context.outbox == []


# --- http --------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """/ok echoes the JSON it got, /text answers text, /fail answers 500, /slow sleeps,
    /big answers more than the body limit, /moved redirects."""

    received: list[tuple[str, str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"null")
        Handler.received.append((self.path, self.headers.get("Content-Type", ""), payload))
        routes = {
            "/ok": (200, "application/json", json.dumps({"echo": payload}).encode()),
            "/created": (201, "application/json", b'{"id": 42}'),
            "/text": (200, "text/plain", b"plain words"),
            "/fail": (500, "text/plain", b"database is on fire"),
            "/big": (200, "text/plain", b"a" * (HTTP_BODY_LIMIT + 1000)),
            "/moved": (302, "text/plain", b""),
        }
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
            routes["/slow"] = (200, "application/json", b"{}")
        status, kind, body = routes.get(self.path, (404, "text/plain", b"no such path"))
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if status == 302:
                self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (the timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours *_proxy variables; the test server is local.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    Handler.received = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def post(url: str, **params: Any) -> dict[str, Any]:
    return http_connector({"url": url, **params}, ConnectorContext())


def test_http_posts_json_and_returns_parsed_json(server: str) -> None:
    result = post(f"{server}/ok", payload={"incident": "INC-1", "priority": 1})
    assert result == {"status": 200, "body": {"echo": {"incident": "INC-1", "priority": 1}}}
    assert Handler.received == [
        ("/ok", "application/json", {"incident": "INC-1", "priority": 1})
    ]


def test_http_returns_other_2xx_and_text_bodies(server: str) -> None:
    assert post(f"{server}/created", payload={}) == {"status": 201, "body": {"id": 42}}
    assert post(f"{server}/text") == {"status": 200, "body": "plain words"}


def test_http_truncates_a_big_body(server: str) -> None:
    result = post(f"{server}/big")
    assert result["truncated"] is True
    assert len(result["body"]) == HTTP_BODY_LIMIT


def test_http_500_fails_with_status_and_body(server: str) -> None:
    with pytest.raises(ConnectorFailed, match="returned HTTP 500: database is on fire"):
        post(f"{server}/fail")


def test_http_redirect_is_not_followed(server: str) -> None:
    with pytest.raises(ConnectorFailed, match="returned HTTP 302"):
        post(f"{server}/moved")


def test_http_connection_refused_fails() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectorFailed, match="failed: ConnectionRefusedError"):
        post(f"http://127.0.0.1:{port}/ok")


def test_http_timeout_fails_within_the_limit(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorFailed, match="timed out"):
        post(f"{server}/slow", timeout_seconds=0.3)
    assert time.monotonic() - started < SLOW_SECONDS - 0.5


def test_http_error_messages_hide_credentials_and_query(server: str) -> None:
    url = server.replace("http://", "http://user:secret@") + "/fail?token=abc"
    with pytest.raises(ConnectorFailed) as caught:
        post(url)
    assert "secret" not in str(caught.value) and "token" not in str(caught.value)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "needs a url"),
        ({"url": "ftp://127.0.0.1/x"}, "must start with http:// or https://"),
        ({"url": "file:///etc/passwd"}, "must start with http:// or https://"),
        ({"url": "not a url"}, "must start with http:// or https://"),
        ({"url": "http://"}, "has no host"),
        ({"url": "http://127.0.0.1:1/x", "timeout_seconds": 61}, "at most 60"),
        ({"url": "http://127.0.0.1:1/x", "timeout_seconds": 0}, "above 0"),
        ({"url": "http://127.0.0.1:1/x", "timeout_seconds": True}, "must be a number"),
        ({"url": "http://127.0.0.1:1/x", "payload": {"x": object()}}, "not JSON-serialisable"),
        ({"url": "http://127.0.0.1:1/x", "body": {}}, "does not take the parameter"),
    ],
)
def test_http_rejects_bad_params(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConnectorFailed, match=expected):
        http_connector(params, ConnectorContext())


def test_http_through_the_registry(server: str) -> None:
    result = default_registry().call(
        "http", {"url": f"{server}/ok", "payload": [1, 2]}, ConnectorContext()
    )
    assert result == {"status": 200, "body": {"echo": [1, 2]}}
