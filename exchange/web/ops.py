"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the database answers
and its schema is current) and ``/metrics`` (Prometheus), none of them authenticated; and the
middleware that counts and times every request.

Keep ``/metrics`` off the public internet: the nginx configuration in ``deploy/`` only lets
local addresses reach these paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from exchange.errors import ExchangeError
from exchange.services.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, Metrics
from exchange.web.keys import SERVICES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METRICS = web.AppKey("metrics", Metrics)
READY_TIMEOUT_SECONDS = 5.0
EVENT_STREAM = "text/event-stream"

log = structlog.get_logger("exchange.ops")
routes = web.RouteTableDef()


def setup(app: web.Application, registry: CollectorRegistry | None = None) -> None:
    """Metrics for this app (in ``registry``, else a fresh one) and the ops routes. Call after
    the services' cleanup context is registered: the publish hooks need the services."""
    app[METRICS] = Metrics(registry)
    app.add_routes(routes)
    app.cleanup_ctx.append(_publish_hooks)


async def _publish_hooks(app: web.Application) -> AsyncIterator[None]:
    metrics, publish = app[METRICS], app[SERVICES].publish
    publish.listeners.append(metrics.objects_inserted)
    publish.status_listeners.append(metrics.status_recorded)
    yield


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


@web.middleware
async def record_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request by method, route template and status, and time it (outermost, so
    it sees the status the client gets)."""
    started = time.perf_counter()
    status = 500
    timed = True
    try:
        response = await handler(request)
        status = response.status
        timed = response.content_type != EVENT_STREAM
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away first (nginx's code for it)
        raise
    finally:
        metrics = request.app.get(METRICS)
        if metrics is not None:
            elapsed = time.perf_counter() - started if timed else None
            metrics.observe_request(request.method, _route_of(request), status, elapsed)


def _json(status: int, body: dict[str, object]) -> web.Response:
    response = web.json_response(body, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers; nothing else is checked."""
    return _json(200, {"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the database answers and its schema is the one this code expects."""
    store = request.app[SERVICES].store
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await store.ping()
            current, expected = await store.schema_version()
    except TimeoutError:
        return _not_ready(f"the database did not answer within {READY_TIMEOUT_SECONDS:g}s")
    except ExchangeError as exc:
        return _not_ready(f"database unreachable: {exc.message}")
    except Exception as exc:  # a driver error of any kind: not ready, never a 500
        return _not_ready(f"database unreachable: {type(exc).__name__}: {exc}")
    if current < expected:
        return _not_ready(
            f"database schema version {current}, this code expects {expected}: migrations pending"
        )
    if current > expected:
        return _not_ready(
            f"database schema version {current} is newer than this code ({expected}): upgrade"
        )
    return _json(200, {"status": "ready", "schema_version": current})


def _not_ready(reason: str) -> web.Response:
    log.warning("not ready", reason=reason)
    return _json(503, {"status": "unavailable", "reason": reason})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the store gauges are counted now."""
    metrics_ = request.app[METRICS]
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await metrics_.refresh_store(request.app[SERVICES].store)
    except Exception as exc:  # the scrape still answers; the store gauges keep their last value
        log.warning("store metrics unavailable", error=f"{type(exc).__name__}: {exc}")
    body = await asyncio.get_running_loop().run_in_executor(None, metrics_.exposition)
    response = web.Response(body=body, content_type=None)
    response.headers["Content-Type"] = CONTENT_TYPE
    response.headers["Cache-Control"] = "no-store"
    return response
