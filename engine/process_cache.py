"""Parsed specs and form files per process version, shared by every instance of a version.

Deployed versions never change, so entries never go stale; the cache is bounded and can be
rebuilt from the database at any time (nothing here is needed by another server process).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import spiff
from engine.errors import NotFound
from engine.schedules import executable_bpmn
from storage.models import ProcessVersion, VersionFile

__all__ = ["ProcessCache"]


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ProcessCache:
    """Parsed processes keyed by (version, pinned called versions); forms by (version, file)."""

    def __init__(self, size: int = 256) -> None:
        self._specs = _Lru(size)
        self._forms = _Lru(size * 8)

    def parsed(
        self, session: Session, version: ProcessVersion, called: Mapping[str, int]
    ) -> spiff.ParsedProcess:
        key = (version.id, tuple(sorted(called.items())))
        cached = self._specs.get(key)
        if cached is None:
            cached = self._parse(session, version, called)
            self._specs.put(key, cached)
        return cached  # type: ignore[no-any-return]

    def _parse(
        self, session: Session, version: ProcessVersion, called: Mapping[str, int]
    ) -> spiff.ParsedProcess:
        version_ids = {version.id, *called.values()}
        rows = session.execute(
            select(VersionFile.version_id, VersionFile.name, VersionFile.content).where(
                VersionFile.version_id.in_(version_ids)
            )
        ).all()
        bpmn: dict[str, bytes] = {}
        dmn: dict[str, bytes] = {}
        for version_id, name, content in rows:
            # Prefix with the version so equal file names in two models cannot collide.
            qualified = f"{version_id}/{name}"
            if name.endswith(".bpmn"):
                if version_id == version.id:
                    # A timer start event is the engine's schedule, not the instance's.
                    content = executable_bpmn(content, version.process_id)
                bpmn[qualified] = content
            elif name.endswith(".dmn"):
                dmn[qualified] = content
        return spiff.parse_process(bpmn, dmn, version.process_id)

    def form(self, session: Session, version_id: int, name: str) -> dict[str, Any]:
        """A form file (JSON Schema or UI schema) of a version, parsed."""
        key = (version_id, name)
        cached = self._forms.get(key)
        if cached is None:
            content = session.scalar(
                select(VersionFile.content).where(
                    VersionFile.version_id == version_id, VersionFile.name == name
                )
            )
            if content is None:
                raise NotFound(f"form file {name!r} is not part of version {version_id}")
            cached = json.loads(content)
            self._forms.put(key, cached)
        return cached  # type: ignore[no-any-return]
