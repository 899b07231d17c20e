"""Operations endpoints: ``/healthz`` (the process answers), ``/readyz`` (the database answers
and its schema is current), neither authenticated, and ``/metrics`` (Prometheus); and the
middleware that counts and times every request.

``/metrics`` is for the operators only: it answers on the separate metrics address
(``metrics_host``/``metrics_port``) when one is configured, and on the API port only with
``Authorization: Bearer <metrics_token>`` (401 without it); with neither set the API port
answers 404 for it. Member tokens never open it.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from exchange.config import Settings
from exchange.errors import ExchangeError, NotAuthenticated, NotFound
from exchange.services.metrics import CONTENT_TYPE, UNMATCHED_ROUTE, Metrics
from exchange.web.keys import RATE_LIMITS, SERVICES, SETTINGS

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
    metrics.worker_starts.inc()
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


METRICS_PATH = "/metrics"


def _on_metrics_port(request: web.Request, settings: Settings) -> bool:
    if settings.metrics_port is None or request.transport is None:
        return False
    sockname = request.transport.get_extra_info("sockname")
    return (
        isinstance(sockname, tuple)
        and len(sockname) >= 2
        and (int(sockname[1]) == settings.metrics_port)
    )


def _operator_token(request: web.Request, settings: Settings) -> bool:
    if settings.metrics_token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    want = settings.metrics_token.get_secret_value().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), want
    )


@web.middleware
async def metrics_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/metrics`` for operators only (see the module's note), answered before members are
    authenticated: the operator token is not a member token. Every other path, on the metrics
    port too, goes on; the metrics port serves nothing but ``/metrics`` and the health checks."""
    settings = request.app[SETTINGS]
    on_metrics_port = _on_metrics_port(request, settings)
    if request.path == METRICS_PATH and request.method in ("GET", "HEAD"):
        # other methods go on to the router, which answers 405 with Allow
        if on_metrics_port:
            return await metrics(request)  # not through member authentication
        # a wrong operator token is a failed authentication like a wrong member token
        limits = request.app[RATE_LIMITS]
        address = f"address:{request.remote or 'unknown'}"
        given = "Authorization" in request.headers
        if given and settings.metrics_token is not None:
            limits.auth_failures.refuse_if_over(address, "failed authentications")
        if _operator_token(request, settings):
            return await metrics(request)
        if settings.metrics_token is not None:
            if given:
                limits.auth_failures.add(address)
            raise NotAuthenticated("/metrics needs the operator token")
        raise NotFound("no such path")
    if on_metrics_port and request.path not in ("/healthz", "/readyz"):
        raise NotFound("the metrics address serves /metrics, /healthz and /readyz only")
    return await handler(request)


@routes.get(METRICS_PATH)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; the store gauges are counted now (reached only through
    ``metrics_gate``)."""
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
