"""Connectors for service tasks: a registry of named callables, plus ``notify`` and ``http``.

A BPMN service task names its operation with ``spiffworkflow:serviceTaskOperator id="..."``.
The script environment looks that name up here and calls the connector with the evaluated
parameters and a :class:`ConnectorContext`. A connector returns a JSON-serialisable dict (the
task's result variable) or raises :class:`~engine.errors.ConnectorFailed`; it never fails
silently.

Connectors do not write to the database themselves: ``notify`` appends a
:class:`Notification` to ``context.outbox`` and the engine stores those rows in the same
transaction as the step, so a rolled-back step sends nothing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConnectorFailed

__all__ = [
    "HTTP_BODY_LIMIT",
    "HTTP_MAX_TIMEOUT_SECONDS",
    "Connector",
    "ConnectorContext",
    "ConnectorRegistry",
    "Notification",
    "default_registry",
    "flatten_params",
    "http_connector",
    "notify_connector",
]

HTTP_BODY_LIMIT = 64 * 1024
HTTP_DEFAULT_TIMEOUT_SECONDS = 10.0
HTTP_MAX_TIMEOUT_SECONDS = 60.0
_ERROR_BODY_SNIPPET = 200


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One message for the outbox; the engine stores it after the step commits."""

    recipient: str | None = None
    recipient_role: str | None = None
    subject: str
    body: str
    channel: str = "email"


@dataclass
class ConnectorContext:
    """What a connector may know about its caller, and where it leaves side effects."""

    instance_id: str | None = None
    business_key: str | None = None
    outbox: list[Notification] = field(default_factory=list)


Connector = Callable[[dict[str, Any], ConnectorContext], dict[str, Any]]


class ConnectorRegistry:
    """Operation name -> connector. Unknown names and misbehaving connectors fail loudly."""

    def __init__(self, connectors: Mapping[str, Connector] | None = None) -> None:
        self._connectors: dict[str, Connector] = dict(connectors or {})

    def register(self, name: str, connector: Connector) -> None:
        """Add a connector; a name can be registered once (a silent replace hides mistakes)."""
        if name in self._connectors:
            raise ValueError(f"a connector named {name!r} is already registered")
        self._connectors[name] = connector

    def names(self) -> list[str]:
        """The registered operation names, sorted (the deploy validator checks against them)."""
        return sorted(self._connectors)

    def __contains__(self, name: object) -> bool:
        return name in self._connectors

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def call(
        self, name: str, params: dict[str, Any], context: ConnectorContext
    ) -> dict[str, Any]:
        """Run connector ``name``; any failure becomes ConnectorFailed with the cause kept."""
        connector = self._connectors.get(name)
        if connector is None:
            known = ", ".join(self.names()) or "none"
            raise ConnectorFailed(f"no connector named {name!r} (known: {known})")
        try:
            result = connector(params, context)
        except ConnectorFailed:
            raise
        except Exception as exc:
            raise ConnectorFailed(f"connector {name!r} failed: {_describe(exc)}") from exc
        return _checked_result(name, result)


def _checked_result(name: str, result: object) -> dict[str, Any]:
    """The result lands in task data, so it must be a JSON object."""
    if not isinstance(result, dict):
        raise ConnectorFailed(f"connector {name!r} returned {type(result).__name__}, not a dict")
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise ConnectorFailed(f"connector {name!r} returned data that is not JSON: {exc}") from exc
    return result


def flatten_params(operation_params: Mapping[str, Any]) -> dict[str, Any]:
    """SpiffWorkflow's ``{name: {"value": v, "type": t}}`` -> ``{name: v}``."""
    flat: dict[str, Any] = {}
    for name, param in operation_params.items():
        if isinstance(param, Mapping) and "value" in param:
            flat[name] = param["value"]
        else:
            flat[name] = param
    return flat


def default_registry() -> ConnectorRegistry:
    """A registry holding the built-in ``notify`` and ``http`` connectors."""
    return ConnectorRegistry({"notify": notify_connector, "http": http_connector})


# --- notify ------------------------------------------------------------------------------

_NOTIFY_PARAMS = frozenset({"recipient", "recipient_role", "subject", "body", "channel"})


def notify_connector(params: dict[str, Any], context: ConnectorContext) -> dict[str, Any]:
    """Queue a notification in ``context.outbox``; returns ``{"queued": True}``."""
    _reject_unknown("notify", params, _NOTIFY_PARAMS)
    recipient = _optional_text("notify", params, "recipient")
    role = _optional_text("notify", params, "recipient_role")
    if recipient is None and role is None:
        raise ConnectorFailed("notify needs a recipient or a recipient_role")
    subject = _optional_text("notify", params, "subject")
    if subject is None:
        raise ConnectorFailed("notify needs a non-empty subject")
    body = params.get("body")
    if not isinstance(body, str):
        raise ConnectorFailed("notify needs a body (a string)")
    channel = _optional_text("notify", params, "channel") or "email"
    context.outbox.append(
        Notification(
            recipient=recipient, recipient_role=role, subject=subject, body=body, channel=channel
        )
    )
    return {"queued": True}


def _reject_unknown(connector: str, params: Mapping[str, Any], known: frozenset[str]) -> None:
    # A misspelt parameter ("recipent") would otherwise be dropped without a word.
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConnectorFailed(
            f"{connector} does not take the parameter(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known))}"
        )


def _optional_text(connector: str, params: Mapping[str, Any], name: str) -> str | None:
    """A string parameter that may be absent, None or blank (all mean 'not given')."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConnectorFailed(f"{connector} parameter {name} must be a string")
    return value.strip() or None


# --- http --------------------------------------------------------------------------------

_HTTP_PARAMS = frozenset({"url", "payload", "timeout_seconds"})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Treat 3xx as an answer: following it would turn a POST into a GET or change hosts."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_connector(params: dict[str, Any], context: ConnectorContext) -> dict[str, Any]:
    """POST ``payload`` as JSON to ``url``; returns ``{"status": code, "body": json or text}``.

    The body is cut at 64 KB (then ``"truncated": True`` is added). Non-2xx answers,
    timeouts, refused connections and bad URLs raise ConnectorFailed.
    """
    _reject_unknown("http", params, _HTTP_PARAMS)
    url = _http_url(params.get("url"))
    timeout = _http_timeout(params.get("timeout_seconds"))
    data = _http_payload(params.get("payload", {}))
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "itsm-orchestrator",
        },
    )
    return _http_send(request, _safe_url(url), timeout)


def _http_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConnectorFailed("http needs a url (a string)")
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ConnectorFailed(f"http url must start with http:// or https://, not {value!r}")
    if not parts.hostname:
        raise ConnectorFailed(f"http url {value!r} has no host")
    return value.strip()


def _http_timeout(value: object) -> float:
    if value is None:
        return HTTP_DEFAULT_TIMEOUT_SECONDS
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConnectorFailed("http timeout_seconds must be a number")
    if not 0 < value <= HTTP_MAX_TIMEOUT_SECONDS:
        raise ConnectorFailed(
            f"http timeout_seconds must be above 0 and at most {HTTP_MAX_TIMEOUT_SECONDS:g}"
        )
    return float(value)


def _http_payload(value: object) -> bytes:
    try:
        return json.dumps(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConnectorFailed(f"http payload is not JSON-serialisable: {exc}") from exc


def _safe_url(url: str) -> str:
    """The URL for error messages, without credentials or query (they may hold secrets)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _http_send(request: urllib.request.Request, shown: str, timeout: float) -> dict[str, Any]:
    opener = urllib.request.build_opener(_NoRedirects())
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            raw, truncated = _read_limited(response, deadline)
            charset = response.headers.get_content_charset() or "utf-8"
    except urllib.error.HTTPError as exc:
        snippet = _error_snippet(exc)
        raise ConnectorFailed(f"http POST {shown} returned HTTP {exc.code}{snippet}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectorFailed(f"http POST {shown} failed: {_describe(exc)}") from exc
    if not 200 <= status < 300:
        raise ConnectorFailed(f"http POST {shown} returned HTTP {status}")
    result: dict[str, Any] = {"status": status, "body": _decode(raw, charset, truncated)}
    if truncated:
        result["truncated"] = True
    return result


def _read_limited(response: Any, deadline: float) -> tuple[bytes, bool]:
    """Read at most HTTP_BODY_LIMIT bytes; the socket timeout is per read, so also check
    a total deadline (a server trickling bytes would otherwise hold the step)."""
    chunks: list[bytes] = []
    size = 0
    while size <= HTTP_BODY_LIMIT:
        chunk = response.read1(HTTP_BODY_LIMIT + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError("the response took longer than the timeout")
    raw = b"".join(chunks)
    return raw[:HTTP_BODY_LIMIT], len(raw) > HTTP_BODY_LIMIT


def _decode(raw: bytes, charset: str, truncated: bool) -> Any:
    text = raw.decode(charset, errors="replace")
    if truncated:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_snippet(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(_ERROR_BODY_SNIPPET).decode("utf-8", errors="replace").strip()
    except Exception:  # the body is a courtesy; the status is the message
        return ""
    finally:
        exc.close()
    return f": {text}" if text else ""


def _describe(exc: BaseException) -> str:
    """A short cause: URLError hides the real one in ``reason``."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib.error.URLError) and reason is not None:
        return _describe(reason) if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
