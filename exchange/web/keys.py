"""Typed keys for what the application holds (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from exchange.config import Settings
from exchange.models import Principal
from exchange.services.ratelimit import RateLimiter
from exchange.services.runtime import Services


@dataclass
class RateLimits:
    members: RateLimiter
    anonymous: RateLimiter


SETTINGS = web.AppKey("settings", Settings)
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)
SERVICES = web.AppKey("services", Services)
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
