"""The application factory: one ``create_app(settings)``, long-lived resources in cleanup_ctx."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor

from aiohttp import web
from aiohttp.web_middlewares import normalize_path_middleware
from prometheus_client import CollectorRegistry

from exchange.config import Settings
from exchange.processes import die_with, stop_pool
from exchange.services.audit import RefusalAudit
from exchange.services.federation import Importer
from exchange.services.housekeeping import Housekeeping
from exchange.services.notify import make_notifier
from exchange.services.periodic import Periodic
from exchange.services.ratelimit import RateLimiter
from exchange.services.runtime import open_services
from exchange.services.witness import WitnessClient, parse_witnesses
from exchange.web import directory, federation, ops, public, security, stream, taxii, translog
from exchange.web.keys import AUDIT, RATE_LIMITS, SERVICES, SETTINGS, RateLimits
from exchange.web.middleware import authenticate, read_body, request_context


def create_app(
    settings: Settings, check_processes: int = 0, registry: CollectorRegistry | None = None
) -> web.Application:
    """A ready-to-run exchange. ``check_processes`` > 0 runs STIX validation and signature
    checks in that many processes; 0 runs them in a thread. Metrics go to ``registry`` (else
    a fresh one for this app; see exchange.services.metrics for several workers)."""
    app = web.Application(
        # A URL without its trailing slash is answered 308 to the canonical one (query kept).
        middlewares=[
            ops.record_metrics,
            request_context,
            normalize_path_middleware(append_slash=True, merge_slashes=False),
            ops.metrics_gate,
            authenticate,
            read_body,
        ],
        client_max_size=settings.max_content_length,
    )
    app[SETTINGS] = settings

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        executor: Executor | None = None
        if check_processes > 0:
            executor = ProcessPoolExecutor(
                check_processes,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=die_with,
                initargs=(os.getpid(),),
            )
        services = await open_services(settings, executor)
        app[SERVICES] = services
        services.ledger.start()
        notifier = make_notifier(services.store, settings.stream_poll_seconds)
        services.notifier = notifier
        services.publish.listeners.append(notifier.on_insert)
        await notifier.start()
        try:
            yield
        finally:
            await notifier.stop()
            await services.ledger.stop()
            await services.store.close()
            if executor is not None:
                stop_pool(executor)

    async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
        upkeep = Housekeeping(
            app[SERVICES].store, settings.status_ttl_hours, retention=app[SERVICES].retention
        )
        upkeep.start()
        # Anonymous copies whose release time has come (docs/privacy.md), on every worker:
        # the store releases each once.
        release = Periodic(
            "anonymous-release",
            app[SERVICES].publish.release_anonymous,
            settings.anonymous_release_seconds,
            run_first=True,
        )
        release.start()
        yield
        await release.stop()
        await upkeep.stop()

    async def translog_ctx(app: web.Application) -> AsyncIterator[None]:
        # Signed tree heads every few seconds while objects arrive, and C2SP witnesses asked
        # to cosign them (docs/transparency.md).
        services = app[SERVICES]
        services.log.start()
        witnesses = WitnessClient(
            services.store,
            services.log,
            parse_witnesses(settings.log_witnesses),
            settings.log_head_seconds,
        )
        if witnesses.witnesses:
            witnesses.start()
        yield
        if witnesses.witnesses:
            await witnesses.stop()
        await services.log.stop()

    async def federation_ctx(app: web.Application) -> AsyncIterator[None]:
        # The pull loop over every peer exchange (docs/federation.md); a lease in the
        # database keeps two workers from pulling the same peer.
        services = app[SERVICES]
        importer = Importer(
            services.store,
            services.peers,
            services.exchange_identity,
            settings.peer_pull_seconds,
            services.publish.executor,
            listeners=services.publish.listeners,
            validator=services.publish.validator,
            log=services.log,
        )
        importer.start()
        yield
        await importer.stop()

    async def rate_limits_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[SERVICES].store
        limits = RateLimits(
            members=RateLimiter(store, settings.rate_limit_per_minute),
            anonymous=RateLimiter(store, settings.anonymous_rate_limit_per_minute),
            auth_failures=RateLimiter(
                store, settings.auth_failures_per_minute, namespace="auth-failures:"
            ),
            expensive=RateLimiter(
                store, settings.expensive_rate_limit_per_minute, namespace="expensive:"
            ),
        )
        app[RATE_LIMITS] = limits
        for limiter in limits.all():
            limiter.start()
        yield
        for limiter in limits.all():
            await limiter.stop()

    async def audit_ctx(app: web.Application) -> AsyncIterator[None]:
        # Refused requests, buffered and written in batches (exchange.services.audit).
        if not settings.audit_refusals:
            yield
            return
        audit = RefusalAudit(
            app[SERVICES].store,
            window_seconds=settings.audit_window_seconds,
            max_keys=settings.audit_max_keys,
        )
        app[AUDIT] = audit
        audit.start()
        yield
        await audit.stop()

    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(rate_limits_ctx)
    app.cleanup_ctx.append(audit_ctx)
    ops.setup(app, registry)
    app.cleanup_ctx.append(housekeeping_ctx)
    app.cleanup_ctx.append(translog_ctx)
    app.cleanup_ctx.append(federation_ctx)
    app.add_routes(taxii.routes)
    app.add_routes(directory.routes)
    app.add_routes(stream.routes)
    public.setup(app)
    app.add_routes(translog.routes)
    app.add_routes(federation.routes)
    security.setup(app)
    app.on_shutdown.append(stream.close_streams)
    return app
