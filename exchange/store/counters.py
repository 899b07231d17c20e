"""Counters shared by every worker: rate limits and feed versions.

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

    # --- feed versions ------------------------------------------------------------------------

    async def feed_version(self, feed: str) -> tuple[str, str] | None:
        """(digest, changed_at) last recorded for a public feed, if any."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT digest, changed_at FROM feed_versions WHERE feed = ?", (feed,)
            )
        return (str(row[0]), str(row[1])) if row else None

    async def set_feed_version(self, feed: str, digest: str, changed_at: str) -> None:
        async with self.db.transaction(write=True) as tx:
            await tx.execute(
                "INSERT INTO feed_versions (feed, digest, changed_at) VALUES (?, ?, ?)"
                " ON CONFLICT (feed) DO UPDATE SET digest = excluded.digest,"
                " changed_at = excluded.changed_at",
                (feed, digest, changed_at),
            )
