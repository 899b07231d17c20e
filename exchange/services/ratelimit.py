"""Per-caller request limits, shared by every worker through the database.

Each worker counts requests locally and adds its counts to the database about once
a second, reading back every caller's total for the current one-minute window. A
caller is refused when the shared total plus what this worker has not yet flushed
reaches the limit. Workers may together admit up to about one second of extra
traffic; in exchange, no request waits on a database write.
"""

from __future__ import annotations

import time

from exchange.errors import RateLimited
from exchange.services.periodic import Periodic
from exchange.store.base import Store

WINDOW = 60


class RateLimiter:
    def __init__(
        self, store: Store, per_minute: int, flush_seconds: float = 1.0, namespace: str = ""
    ) -> None:
        self.store = store
        # Every limiter counts in one shared table: a namespace keeps their callers apart.
        self.namespace = namespace
        self.per_minute = per_minute
        self.flush_seconds = flush_seconds
        self._window = self._current()
        self._local: dict[str, int] = {}
        self._shared: dict[str, int] = {}
        self._job = Periodic("rate-limit-counts", self.flush, flush_seconds)

    @staticmethod
    def _current() -> int:
        return int(time.time()) // WINDOW * WINDOW

    def _roll(self) -> None:
        window = self._current()
        if window != self._window:
            self._window, self._local, self._shared = window, {}, {}

    def check(self, caller: str) -> None:
        """Count one request by ``caller``; raise RateLimited past the limit."""
        self.refuse_if_over(caller)
        self.add(caller)

    def refuse_if_over(self, caller: str, what: str = "requests") -> None:
        """Raise RateLimited when ``caller`` has used up the window (counts nothing)."""
        if self.per_minute <= 0:
            return
        self._roll()
        caller = self.namespace + caller
        used = self._shared.get(caller, 0) + self._local.get(caller, 0)
        if used >= self.per_minute:
            retry = max(1, self._window + WINDOW - int(time.time()))
            raise RateLimited(
                f"more than {self.per_minute} {what} in a minute; retry in {retry} s", retry
            )

    def add(self, caller: str) -> None:
        """Count one event of ``caller`` (a request, a failed authentication)."""
        if self.per_minute <= 0:
            return
        self._roll()
        caller = self.namespace + caller
        self._local[caller] = self._local.get(caller, 0) + 1

    async def flush(self) -> None:
        self._roll()
        window, counts = self._window, self._local
        self._local = {}
        totals = await self.store.counters.add_rate_counts(window, counts)
        if window == self._window:
            self._shared = totals

    def start(self) -> None:
        if self.per_minute > 0:
            self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
