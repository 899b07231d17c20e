"""``exchange serve``: one process, or N worker processes sharing one port (SO_REUSEPORT).

Every worker holds no state of its own that matters: cursors, statuses and keys
are in the database, so any worker answers any request.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from typing import Any

from aiohttp import web

from exchange.app import create_app
from exchange.config import Settings
from exchange.logs import configure_logging
from exchange.store.base import open_store


def _check_processes(settings: Settings) -> int:
    # Validation and signature checks run in their own processes; with several workers
    # each keeps one, so the machine's cores are shared rather than oversubscribed.
    cores = os.cpu_count() or 1
    return max(1, cores // settings.workers)


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, check_processes=_check_processes(settings))
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        access_log=None,
        print=None,
        handle_signals=True,
    )


async def _migrate(settings: Settings) -> None:
    store = open_store(settings.db)
    await store.open()
    await store.close()


def serve(settings: Settings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    # Migrate once, before any worker starts, so workers never race on the schema.
    asyncio.run(_migrate(settings))
    sys.stderr.write(
        f"exchange: serving http://{settings.host}:{settings.port}/taxii2/ "
        f"with {settings.workers} worker(s), database {settings.db}\n"
    )
    if settings.workers == 1:
        _run_worker(settings, reuse_port=False)
        return 0
    context = multiprocessing.get_context("spawn")
    workers: list[Any] = [
        context.Process(target=_run_worker, args=(settings, True), name=f"worker-{i}")
        for i in range(settings.workers)
    ]
    for process in workers:
        process.start()

    def stop(_signum: int, _frame: Any) -> None:
        for process in workers:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in workers:
        process.join()
    return 0 if all(p.exitcode in (0, -signal.SIGTERM) for p in workers) else 1
