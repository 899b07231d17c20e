"""Periodic upkeep: status resources are kept ``status_ttl_hours`` (at least 24 h, as TAXII
asks), then removed."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from exchange.errors import ExchangeError
from exchange.store.base import Store
from exchange.timeutil import format_ts, now

log = structlog.get_logger("exchange.housekeeping")


class Housekeeping:
    def __init__(self, store: Store, status_ttl_hours: int, every_seconds: float = 3600) -> None:
        self.store = store
        self.ttl = timedelta(hours=max(24, status_ttl_hours))
        self.every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        removed = await self.store.expire_statuses(format_ts(now() - self.ttl))
        if removed:
            log.info("expired statuses", count=removed)
        return removed

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except ExchangeError as exc:  # the database may be briefly away; try next time
                log.warning("housekeeping failed", error=exc.message)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
