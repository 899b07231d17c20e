"""A background job run every few seconds for the life of the app, surviving its own errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from exchange.errors import ExchangeError

log = structlog.get_logger("exchange.periodic")


class Periodic:
    def __init__(
        self, name: str, job: Callable[[], Awaitable[object]], every: float, run_first: bool = False
    ) -> None:
        self.name = name
        self.job = job
        self.every = every
        self.run_first = run_first
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        if not self.run_first:
            await asyncio.sleep(self.every)
        while True:
            try:
                await self.job()
            except ExchangeError as exc:  # e.g. the database briefly away: try next time
                log.warning("periodic job failed", job=self.name, error=exc.message)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
