"""PostgreSQL driver (asyncpg): many workers on one database.

Ingest takes a transaction-scoped advisory lock, so sequence numbers and
date_added values are handed out in commit order: a reader that has seen
``seq = N`` committed will never later find a smaller one appear (the stream
and ``next`` cursors rely on that).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from exchange.errors import StorageFull, StoreUnavailable
from exchange.store.rows import Row, Tx
from exchange.store.sql import SqlStore

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel

INGEST_LOCK = 0x45584348  # "EXCH"
MIGRATION_LOCK = 0x45584D47  # "EXMG"
_PLACEHOLDER = re.compile(r"\?")


# Errors that mean the connection, not the statement, failed.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.CrashShutdownError,
)


def numbered(sql: str) -> str:
    """``?`` placeholders → ``$1, $2, …`` (the exchange's SQL has no ``?`` in literals)."""
    counter = iter(range(1, 1_000_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        result: str = await self.conn.execute(numbered(sql), *params)
        tail = result.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        await self.conn.executemany(numbered(sql), [tuple(r) for r in rows])

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return list(await self.conn.fetch(numbered(sql), *params))

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row = await self.conn.fetchrow(numbered(sql), *params)
        return row  # type: ignore[no-any-return]


class PostgresStore(SqlStore):
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        min_size: int = 2,
        max_size: int = 10,
        *,
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self._pool: Any = None
        self._min = min_size
        self._max = max_size
        # Session settings for every pooled connection (the tests set search_path).
        # The read query is one large statement whose estimated cost sets off PostgreSQL's
        # JIT, whose compile time then dwarfs the index probes it runs; and the exchange's
        # reads are index lookups that the default random_page_cost (tuned for spinning
        # disks) talks the planner out of.
        self._server_settings = {
            "jit": "off",
            "random_page_cost": "1.1",
            "plan_cache_mode": "force_generic_plan",
            **(server_settings or {}),
        }

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min,
                max_size=self._max,
                command_timeout=60,
                server_settings=self._server_settings,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        async with self.transaction(write=True) as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            await self.migrate(tx)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def lock_ingest(self, tx: Tx) -> None:
        await tx.execute("SELECT pg_advisory_xact_lock(?)", (INGEST_LOCK,))

    @asynccontextmanager
    async def transaction(self, write: bool = False) -> AsyncIterator[_PgTx]:
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        try:
            conn = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc
        try:
            async with conn.transaction(readonly=not write):
                yield _PgTx(conn)
        except CONNECTION_LOST as exc:
            # The server went away (restart, failover, pg_terminate_backend) during the
            # transaction: nothing of it was committed; the pool makes new connections
            # when the server is back, so the next request heals by itself.
            raise StoreUnavailable(f"PostgreSQL connection lost: {type(exc).__name__}") from exc
        except asyncpg.DiskFullError as exc:
            raise StorageFull("PostgreSQL has no disk space left; nothing was stored") from exc
        finally:
            # a dead connection cannot be reset: the pool discards it
            with contextlib.suppress(OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
                await self._pool.release(conn)

    def notification_channel(self, name: str) -> PgChannel | None:
        from exchange.store.pgchannel import PgChannel

        return PgChannel(self, name)

    def raw_pool(self) -> Any:
        """The asyncpg pool, for NOTIFY (``exchange.store.pgchannel``)."""
        return self._pool
