"""Rate-limit counters shared by every worker.

The ``counters`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlCounters:
    """Rate-limit counters shared by every worker."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- rate limits --------------------------------------------------------------------------

    async def add_rate_counts(self, window_start: int, counts: dict[str, int]) -> dict[str, int]:
        """Add request counts for one window; return every caller's total in it."""
        async with self.db.transaction(write=True) as tx:
            if counts:
                await tx.executemany(
                    "INSERT INTO rate_counts (caller, window_start, requests) VALUES (?, ?, ?)"
                    " ON CONFLICT (caller, window_start)"
                    " DO UPDATE SET requests = rate_counts.requests + excluded.requests",
                    [(caller, window_start, n) for caller, n in counts.items()],
                )
            rows = await tx.fetchall(
                "SELECT caller, requests FROM rate_counts WHERE window_start = ?", (window_start,)
            )
            await tx.execute("DELETE FROM rate_counts WHERE window_start < ?", (window_start - 1,))
        return {r[0]: int(r[1]) for r in rows}
