"""Settings from the environment: the only module that reads ``ITSM_*`` variables.

A bad value fails at start-up with the variable's name, never later at first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "Settings", "load_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """An ``ITSM_*`` variable holds a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_dir: Path
    secret_key: str | None
    script_time_limit: float
    timer_poll_seconds: float
    embedded_worker: bool
    max_request_bytes: int
    log_level: str

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    instance_dir = Path(env.get("ITSM_INSTANCE_DIR", PROJECT_ROOT / "instance")).resolve()
    default_db = f"sqlite:///{instance_dir / 'itsm.db'}"
    url = env.get("ITSM_DATABASE_URL", default_db)
    if not url.startswith(("sqlite:///", "postgresql")):
        raise ConfigError("ITSM_DATABASE_URL must be sqlite:///PATH or postgresql+psycopg://...")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return Settings(
        database_url=url,
        instance_dir=instance_dir,
        secret_key=env.get("ITSM_SECRET_KEY"),
        script_time_limit=_number(env, "ITSM_SCRIPT_TIME_LIMIT", 2.0, 0.05, 60),
        timer_poll_seconds=_number(env, "ITSM_TIMER_POLL_SECONDS", 1.0, 0.05, 60),
        embedded_worker=_flag(env, "ITSM_EMBEDDED_WORKER", url.startswith("sqlite")),
        max_request_bytes=int(_number(env, "ITSM_MAX_REQUEST_BYTES", 4 * 1024 * 1024,
                                      1024, 512 * 1024 * 1024)),
        log_level=env.get("ITSM_LOG_LEVEL", "INFO").upper(),
    )


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
