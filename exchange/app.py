"""The application factory: one ``create_app(settings)``, long-lived resources in cleanup_ctx."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor

from aiohttp import web

from exchange.config import Settings
from exchange.services.runtime import open_services
from exchange.web import directory, taxii
from exchange.web.keys import SERVICES, SETTINGS
from exchange.web.middleware import authenticate, request_context


def create_app(settings: Settings, check_processes: int = 0) -> web.Application:
    """A ready-to-run exchange. ``check_processes`` > 0 runs STIX validation and signature
    checks in that many processes; 0 runs them in a thread."""
    app = web.Application(
        middlewares=[request_context, authenticate],
        client_max_size=settings.max_content_length,
    )
    app[SETTINGS] = settings

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        executor: Executor | None = None
        if check_processes > 0:
            executor = ProcessPoolExecutor(
                check_processes, mp_context=multiprocessing.get_context("forkserver")
            )
        services = await open_services(settings, executor)
        app[SERVICES] = services
        services.ledger.start()
        try:
            yield
        finally:
            await services.ledger.stop()
            await services.store.close()
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(services_ctx)
    app.add_routes(taxii.routes)
    app.add_routes(directory.routes)
    return app
