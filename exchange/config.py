"""Settings: defaults, then a TOML file (``--config`` or ``$EXCHANGE_CONFIG``), then ``EXCHANGE_*``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from exchange.errors import InvalidInput

DEFAULT_DB = "sqlite:///var/exchange.db"


class RetentionSettings(BaseModel):
    """How long object versions are kept (docs/privacy.md): each period that applies to a
    version runs from its date_added (an indicator's from its valid_until), and the first to
    elapse purges it; nothing applies, nothing is purged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # days by TLP: clear, green, amber, amber+strict, red
    tlp_days: dict[Literal["clear", "green", "amber", "amber+strict", "red"], int] = Field(
        default_factory=dict
    )
    # days by member (its name or id): what it published
    member_days: dict[str, int] = Field(default_factory=dict)
    # an indicator with valid_until: days after it
    indicator_days_after_valid_until: int | None = Field(default=None, ge=0)
    # how often the purge runs in the server (a day)
    purge_every_hours: float = Field(default=24.0, gt=0)

    @model_validator(mode="after")
    def _positive(self) -> RetentionSettings:
        for name, days in [*self.tlp_days.items(), *self.member_days.items()]:
            if days < 0:
                raise ValueError(f"retention of {name} must be 0 days or more")
        return self


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
    # Slow or idle clients: request line and headers must arrive within header_timeout_seconds
    # of their first byte, a body within body_timeout_seconds (else 408); a connection idle
    # between requests that long is closed; at most max_connections_per_address connections
    # from one address are open at once (0: no cap).
    # Failed authentication: credentials refused (401) per client address, and per member for
    # a known token that is revoked or expired, a suspended member's, or a 403 to the member;
    # past it requests with credentials from that address (or as that member) answer 429
    # without the credentials being looked at. 0 turns it off.
    auth_failures_per_minute: int = Field(default=30, ge=0)
    # Expensive requests (posting objects, opening an event stream, log proofs and
    # cosignatures, the public search page) per minute per member, per address when
    # anonymous; 0 turns the limit off.
    expensive_rate_limit_per_minute: int = Field(default=0, ge=0)
    # Refused requests (401, 403, 429, refused objects) into the audit log, coalesced per
    # (who, what, why) per audit_window_seconds, at most audit_max_keys of them per window.
    audit_refusals: bool = True
    audit_window_seconds: float = Field(default=60.0, gt=0)
    audit_max_keys: int = Field(default=1000, ge=1)
    # TLS on the API port (and the metrics port): a PEM certificate chain and its key, both or
    # neither; TLS 1.2 at least. Then responses carry Strict-Transport-Security.
    tls_cert: str | None = None
    tls_key: str | None = None
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=60.0, gt=0)
    idle_timeout_seconds: float = Field(default=75.0, gt=0)
    max_connections_per_address: int = Field(default=256, ge=0)
    # /metrics: served on metrics_host:metrics_port when metrics_port is set, and on the API
    # port only with "Authorization: Bearer <metrics_token>"; neither set: not on the API port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: SecretStr | None = None
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Stream: heartbeat interval and how far a subscriber may fall behind before it is cut off.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_poll_seconds: float = Field(default=1.0, gt=0)
    stream_queue_limit: int = Field(default=1000, ge=1)
    # Transparency log: how often a new signed tree head is made while objects arrive, and
    # the checkpoint's origin line (default: the public URL's host and path, docs/transparency.md).
    log_head_seconds: float = Field(default=2.0, gt=0)
    log_origin: str | None = None
    # Anonymous submission (docs/privacy.md): each copy is published at a random moment up to
    # anonymous_delay_seconds after its submission (0: at once), the due ones released every
    # anonymous_release_seconds; the copy's created/modified are floored to
    # anonymous_granularity_seconds.
    anonymous_delay_seconds: float = Field(default=3600.0, ge=0)
    anonymous_release_seconds: float = Field(default=30.0, gt=0)
    anonymous_granularity_seconds: int = Field(default=3600, ge=1, le=86400)
    # PII screening on ingest (docs/privacy.md): extra patterns (name = regular expression)
    # and property names never screened, besides the built-in ones.
    pii_screening: bool = True
    pii_patterns: dict[str, str] = Field(default_factory=dict)
    pii_allow_fields: list[str] = Field(default_factory=list)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    # C2SP tlog-witness witnesses asked to cosign each new checkpoint: "VKEY SUBMISSION_URL".
    log_witnesses: list[str] = Field(default_factory=list)
    # STIX validation: "fast" (the exchange's own, same verdicts, ~30x faster) or
    # "stix2-validator" (the library itself, for comparison); docs/performance.md.
    validator: Literal["fast", "stix2-validator"] = "fast"
    # Federation: how often each peer exchange is pulled (at once when its stream says there
    # is something new), docs/federation.md.
    peer_pull_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _separate_metrics_port(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            raise ValueError("metrics_token must be at least 16 characters")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


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
