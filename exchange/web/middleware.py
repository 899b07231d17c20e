"""Middleware: request ids and access logs, authentication, and the one place where errors
become TAXII error bodies."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from exchange import errors
from exchange.taxii.media import TAXII
from exchange.web.keys import (
    AUDIT,
    PRINCIPAL,
    RATE_LIMITS,
    REFUSAL,
    REQUEST_ID,
    SERVICES,
    SETTINGS,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("exchange.http")

STATUS_OF: dict[type[errors.ExchangeError], int] = {
    errors.InvalidInput: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.NotAcceptable: 406,
    errors.RequestTimeout: 408,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Unprocessable: 422,
    errors.SignatureError: 422,
    errors.RateLimited: 429,
    errors.StorageFull: 507,
    errors.StoreUnavailable: 503,
    errors.LogCorrupt: 500,
}
CHALLENGE = 'Bearer realm="exchange", Basic realm="exchange"'
AUDITED_STATUSES = {401, 403, 429}
# Requests that cost the exchange far more than a page read: their own per-minute limit
# (expensive_rate_limit_per_minute), by method and route template.
EXPENSIVE: set[tuple[str, str]] = {
    ("POST", "/api/v1/collections/{collection}/objects/"),
    ("GET", "/api/v1/collections/{collection}/events/"),
    ("GET", "/api/v1/log/inclusion/"),
    ("GET", "/api/v1/log/consistency/"),
    ("POST", "/api/v1/log/cosignatures/"),
    ("GET", "/"),
}


def status_of(exc: errors.ExchangeError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def taxii_error(
    status: int, title: str, description: str | None, request_id: str | None
) -> web.Response:
    body: dict[str, object] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    if request_id:
        body["error_id"] = request_id
    response = web.Response(status=status, body=orjson.dumps(body), content_type=None)
    response.headers["Content-Type"] = TAXII
    if status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, access log (no bodies, no credentials), and every error turned into a
    TAXII error body."""
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    if len(request_id) > 64 or not request_id.replace("-", "").isalnum():
        request_id = uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await _errors_as_taxii(request, handler, request_id)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    except web.HTTPException as exc:  # redirects (308 to the canonical URL) pass through
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        principal = request.get(PRINCIPAL)
        route = request.match_info.route.resource
        log.info(
            "request",
            method=request.method,
            route=route.canonical if route is not None else request.path,
            status=status,
            member=getattr(principal, "member", None),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        _audit_refusal(request)
        structlog.contextvars.unbind_contextvars("request_id")


def route_template(request: web.Request) -> str:
    """The route's template (``/api/v1/collections/{collection}/objects/``), never the raw
    path a caller chose; ``(no route)`` where none matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def caller_of(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    member = getattr(principal, "member", None)
    return f"member:{member}" if member else f"address:{request.remote or 'unknown'}"


def _audit_refusal(request: web.Request) -> None:
    """A refused request (or refused objects) into the audit log's buffer: who, the method
    and route template, the status and the message; never a token or a body."""
    refusal = request.get(REFUSAL)
    audit = request.app.get(AUDIT)
    if refusal is None or audit is None:
        return
    status, reason = refusal
    principal = request.get(PRINCIPAL)
    method = request.method[:16]
    audit.refused(
        caller_of(request),
        f"{method} {route_template(request)}",
        reason,
        member=getattr(principal, "member", None),
        details={"status": str(status)},
    )


def note_refusal(request: web.Request, status: int, reason: str) -> None:
    """Mark the request as refused (or partly: objects of an envelope) for the audit log."""
    request[REFUSAL] = (status, reason)


async def _errors_as_taxii(
    request: web.Request, handler: Handler, request_id: str
) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.ExchangeError as exc:
        status = status_of(exc)
        if status in AUDITED_STATUSES:
            # a rate limit's message says when to retry: cut, so that repeats coalesce
            note_refusal(request, status, exc.message.split("; retry in")[0])
        response = taxii_error(status, exc.title, exc.message, request_id)
        if isinstance(exc, errors.RateLimited | errors.StoreUnavailable):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, errors.RequestTimeout):
            response.force_close()  # what is left of the body is never read
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = exc.reason or "Error"
        description = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None
        if exc.status == 413:
            description = "the request body exceeds max_content_length"
        response = taxii_error(exc.status, title, description, request_id)
        for name in ("Allow",):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error", path=request.path)
        return taxii_error(
            500,
            "Internal server error",
            "the exchange could not answer; see request id",
            request_id,
        )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the caller once per request: a member, or anonymous; then the rate limits.

    Credentials refused count against the address (and against the member when the token is
    known); past ``auth_failures_per_minute`` credentials from that address are not even
    looked at (429). A member past it (refused credentials of its own, or 403s) gets 429."""
    services = request.app[SERVICES]
    limits = request.app[RATE_LIMITS]
    address = f"address:{request.remote or 'unknown'}"
    authorization = request.headers.get("Authorization")
    if authorization:
        limits.auth_failures.refuse_if_over(address, "failed authentications")
    try:
        principal = await services.auth.principal(authorization)
    except errors.NotAuthenticated as exc:
        limits.auth_failures.add(address)
        if exc.member is not None:
            limits.auth_failures.add(f"member:{exc.member}")
        raise
    request[PRINCIPAL] = principal
    if principal.member is not None:
        limits.auth_failures.refuse_if_over(
            f"member:{principal.member}", "refused requests (401 or 403)"
        )
        limits.members.check(principal.member)
    else:
        limits.anonymous.check(request.remote or "unknown")
    if (request.method, route_template(request)) in EXPENSIVE:
        limits.expensive.check(caller_of(request))
    try:
        return await handler(request)
    except errors.PermissionDenied:
        if principal.member is not None:
            limits.auth_failures.add(f"member:{principal.member}")
        raise


@web.middleware
async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read a request's body, when it has one, within ``body_timeout_seconds`` (else 408 and
    the connection is closed) and ``max_content_length`` (else 413), before any handler."""
    if request.body_exists:
        settings = request.app[SETTINGS]
        limit = settings.max_content_length
        if request.content_length is not None and request.content_length > limit:
            raise errors.TooLarge(f"the request body exceeds max_content_length ({limit} bytes)")
        try:
            async with asyncio.timeout(settings.body_timeout_seconds):
                await request.read()  # kept: the handler's read() returns it
        except TimeoutError:
            log.warning(
                "request body too slow", path=request.path, seconds=settings.body_timeout_seconds
            )
            raise errors.RequestTimeout(
                f"the request body did not arrive within {settings.body_timeout_seconds:g} s"
            ) from None
    return await handler(request)
