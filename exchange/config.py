"""Settings: defaults, then a TOML file (``--config`` or ``$EXCHANGE_CONFIG``), then ``EXCHANGE_*``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange.errors import InvalidInput

DEFAULT_DB = "sqlite:///var/exchange.db"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Public base URL (scheme://host[:port]) when behind a proxy; else the address the exchange
    # is bound to (never a request's Host header).
    public_url: str | None = None
    title: str = "The exchange"
    description: str = "Signed STIX 2.1 bulletins shared under machine-enforced rules"
    contact: str | None = None
    max_content_length: int = Field(default=10 * 1024 * 1024, ge=1024)
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    status_ttl_hours: int = Field(default=48, ge=24)
    # Requests per minute per member (and per client address for anonymous callers),
    # shared across workers; 0 turns the limit off.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    anonymous_rate_limit_per_minute: int = Field(default=0, ge=0)
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Stream: heartbeat interval and how far a subscriber may fall behind before it is cut off.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_poll_seconds: float = Field(default=1.0, gt=0)
    stream_queue_limit: int = Field(default=1000, ge=1)


ENV_PREFIX = "EXCHANGE_"


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {}
    path = config_file or os.environ.get("EXCHANGE_CONFIG")
    if path:
        try:
            values.update(tomllib.loads(Path(path).read_text("utf-8")))
        except OSError as exc:
            raise InvalidInput(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from exc
    for name in Settings.model_fields:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"bad setting {where}: {first['msg']}") from exc
