"""SQLite driver: WAL, one writer connection, a few reader connections, all off the event loop.

``synchronous=FULL`` makes a committed transaction durable before ``commit``
returns, so a 202 whose status says ``complete`` survives ``kill -9`` and power loss.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from exchange.errors import InvalidInput, StorageFull, StoreUnavailable
from exchange.store.rows import Row
from exchange.store.sql import SqlStore

READERS = 4


class _SqliteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        cursor = await self.conn.execute(sql, tuple(params))
        count = cursor.rowcount
        await cursor.close()
        return int(count)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        await self.conn.executemany(sql, [tuple(r) for r in rows])

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = await self.conn.execute(sql, tuple(params))
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        cursor = await self.conn.execute(sql, tuple(params))
        row = await cursor.fetchone()
        await cursor.close()
        return row


def _unavailable(exc: sqlite3.OperationalError) -> Exception:
    """SQLite's operational failures that are the machine's, not the statement's."""
    text = str(exc).lower()
    if "disk is full" in text or "disk i/o error" in text:
        return StorageFull("the database has no disk space left; nothing was stored")
    if "locked" in text or "busy" in text:
        return StoreUnavailable("the database is busy; try again")
    return exc


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db`` → ``relative.db``; ``sqlite:////abs.db`` → ``/abs.db``."""
    path = url[len("sqlite:///") :]
    if not path:
        raise InvalidInput(f"no file in database URL {url!r}")
    return path


class SqliteStore(SqlStore):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []

    async def _connect(self) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        await conn.execute("PRAGMA busy_timeout = 30000")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = FULL")
        return conn

    async def open(self) -> None:
        parent = Path(self.path).parent
        if str(parent) not in ("", "."):
            os.makedirs(parent, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode = WAL")
        async with self.transaction(write=True) as tx:
            await self.migrate(tx)
        for _ in range(READERS):
            conn = await self._connect()
            self._all_readers.append(conn)
            self._readers.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all_readers:
            await conn.close()
        self._all_readers.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    @asynccontextmanager
    async def transaction(self, write: bool = False) -> AsyncIterator[_SqliteTx]:
        if write or not self._all_readers:
            if self._writer is None:
                raise StoreUnavailable("the store is not open")
            async with self._write_lock:
                conn = self._writer
                try:
                    try:
                        # IMMEDIATE takes the database write lock now, so other processes
                        # (another worker, the admin CLI) wait in busy_timeout, never
                        # deadlock. Inside the try: a task cancelled while BEGIN runs still
                        # rolls back, never leaving the connection inside a transaction.
                        await conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                        yield _SqliteTx(conn)
                    except BaseException:
                        await conn.rollback()
                        raise
                    else:
                        await conn.commit()
                except sqlite3.OperationalError as exc:
                    raise _unavailable(exc) from exc
            return
        conn = await self._readers.get()
        try:
            try:
                await conn.execute("BEGIN")
                yield _SqliteTx(conn)
            finally:
                await conn.rollback()  # a no-op when BEGIN never ran
        finally:
            self._readers.put_nowait(conn)
