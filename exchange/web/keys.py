"""Typed keys for what the application holds (no module globals)."""

from __future__ import annotations

from aiohttp import web

from exchange.config import Settings
from exchange.models import Principal
from exchange.services.runtime import Services

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
