"""Typed keys for what the application holds (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from exchange.config import Settings
from exchange.models import Principal
from exchange.services.audit import RefusalAudit
from exchange.services.ratelimit import RateLimiter
from exchange.services.runtime import Services


@dataclass
class RateLimits:
    members: RateLimiter
    anonymous: RateLimiter
    # keyed "address:<ip>" and "member:<id>"
    auth_failures: RateLimiter
    # keyed "member:<id>", else "address:<ip>"
    expensive: RateLimiter

    def all(self) -> tuple[RateLimiter, ...]:
        return (self.members, self.anonymous, self.auth_failures, self.expensive)


SETTINGS = web.AppKey("settings", Settings)
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)
SERVICES = web.AppKey("services", Services)
AUDIT = web.AppKey("audit", RefusalAudit)
PRINCIPAL = web.RequestKey("principal", Principal)
# Why the request was refused (status, reason), for the audit log.
REFUSAL = web.RequestKey("refusal", tuple)
REQUEST_ID = web.RequestKey("request_id", str)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
