"""``exchange serve``: one process, or N worker processes sharing one port (SO_REUSEPORT).

Every worker holds no state of its own that matters: cursors, statuses and keys
are in the database, so any worker answers any request.
"""

from __future__ import annotations

import asyncio
import errno
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
from typing import Any

import prometheus_client
from aiohttp import web

from exchange.app import create_app
from exchange.config import Settings
from exchange.errors import InvalidInput
from exchange.logs import configure_logging
from exchange.services.metrics import MULTIPROC_ENV, mark_process_dead, multiprocess_dir
from exchange.store.base import open_store
from exchange.web.guard import start_sites
from exchange.web.security import tls_context


def _check_processes(settings: Settings) -> int:
    # Validation and signature checks run in their own processes, one per core in every
    # worker: the kernel hands each connection to one worker, so a worker that happens to
    # get all the posting connections can still use every core.
    del settings
    return os.cpu_count() or 1


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    configure_logging(settings.log_format, settings.log_level)
    # One worker: metrics in the process's default registry. Several: each worker writes its
    # values under PROMETHEUS_MULTIPROC_DIR and /metrics on any worker adds them all up.
    registry = None if multiprocess_dir() else prometheus_client.REGISTRY
    app = create_app(settings, check_processes=_check_processes(settings), registry=registry)
    asyncio.run(_serve_app(app, settings, reuse_port))


async def _serve_app(app: web.Application, settings: Settings, reuse_port: bool) -> None:
    """Serve until SIGTERM or SIGINT, with the connection limits (exchange.web.guard)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner, _sites = await start_sites(app, settings, reuse_port=reuse_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _migrate(settings: Settings) -> None:
    store = open_store(settings.db)
    await store.open()
    await store.close()


def _check_port_free(host: str, port: int) -> None:
    """Say that the port is taken before saying that we serve (the workers bind later)."""
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise InvalidInput(
                        f"port {port} on {host} is in use by another program; "
                        "stop it or choose another --port"
                    ) from exc
                raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def serve(settings: Settings) -> int:
    configure_logging(settings.log_format, settings.log_level)
    # Migrate once, before any worker starts, so workers never race on the schema.
    asyncio.run(_migrate(settings))
    _check_port_free(settings.host, settings.port)
    tls_context(settings)  # unreadable or mismatched TLS files: one line, before any worker
    scheme = "https" if settings.tls else "http"
    sys.stderr.write(
        f"exchange: serving {scheme}://{settings.host}:{settings.port}/taxii2/ "
        f"with {settings.workers} worker(s), database {settings.db}\n"
    )
    if settings.metrics_port is not None:
        sys.stderr.write(
            f"exchange: metrics on {scheme}://{settings.metrics_host}:{settings.metrics_port}/metrics\n"
        )
    if settings.workers == 1:
        _run_worker(settings, reuse_port=False)
        return 0
    # A fresh folder for the workers' metric files, set before they start (prometheus-client
    # reads it when imported), removed when they have all gone.
    metrics_dir = tempfile.mkdtemp(prefix="exchange-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        return _run_workers(settings, metrics_dir)
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_workers(settings: Settings, metrics_dir: str) -> int:
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
    # Wait for the workers; as each exits, drop its share of the live metric gauges.
    running: dict[object, Any] = {process.sentinel: process for process in workers}
    while running:
        ended = multiprocessing.connection.wait([p.sentinel for p in running.values()])
        for sentinel in ended:
            process = running.pop(sentinel)
            process.join()
            mark_process_dead(process.pid, metrics_dir)
    return 0 if all(p.exitcode in (0, -signal.SIGTERM) for p in workers) else 1
