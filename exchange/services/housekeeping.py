"""Periodic upkeep: status resources are kept ``status_ttl_hours`` (at least 24 h, as TAXII
asks), then removed; and the daily retention purge (``exchange.services.retention``)."""

from __future__ import annotations

from datetime import timedelta

import structlog

from exchange.services.periodic import Periodic
from exchange.services.retention import RetentionService
from exchange.store.base import Store
from exchange.timeutil import format_ts, now

log = structlog.get_logger("exchange.housekeeping")


class Housekeeping:
    def __init__(
        self,
        store: Store,
        status_ttl_hours: int,
        every_seconds: float = 3600,
        retention: RetentionService | None = None,
    ) -> None:
        self.store = store
        self.ttl = timedelta(hours=max(24, status_ttl_hours))
        self.every = every_seconds
        self._job = Periodic("housekeeping", self.run_once, every_seconds, run_first=True)
        self._purge = retention.periodic() if retention is not None else None

    async def run_once(self) -> int:
        removed = await self.store.statuses.expire_statuses(format_ts(now() - self.ttl))
        if removed:
            log.info("expired statuses", count=removed)
        return removed

    def start(self) -> None:
        self._job.start()
        if self._purge is not None:
            self._purge.start()

    async def stop(self) -> None:
        if self._purge is not None:
            await self._purge.stop()
        await self._job.stop()
