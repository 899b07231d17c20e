"""The Store, written once over a minimal SQL driver interface.

SQLite and PostgreSQL differ only in how they connect, lock and number
parameters (``exchange.store.sqlite``, ``exchange.store.postgres``); every query
of the exchange lives here and in ``exchange.store.query``, so both stores
answer the contract suite identically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING

from exchange.store.counters import SqlCounters
from exchange.store.members import SqlMembers
from exchange.store.objects import SqlObjects
from exchange.store.rows import Tx
from exchange.store.sharing import SqlSharing
from exchange.store.statuses import SqlStatuses

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel

class SqlStore(ABC):
    """The database: its lifecycle, schema and transactions, and the repositories over them
    (``members``, ``sharing``, ``objects``, ``statuses``, ``counters``); subclasses supply
    the driver."""

    url: str
    dialect: str

    @cached_property
    def members(self) -> SqlMembers:
        return SqlMembers(self)

    @cached_property
    def sharing(self) -> SqlSharing:
        return SqlSharing(self)

    @cached_property
    def objects(self) -> SqlObjects:
        return SqlObjects(self)

    @cached_property
    def statuses(self) -> SqlStatuses:
        return SqlStatuses(self)

    @cached_property
    def counters(self) -> SqlCounters:
        return SqlCounters(self)

    # --- driver hooks -------------------------------------------------------------------------

    @abstractmethod
    def transaction(self, write: bool = False) -> AbstractAsyncContextManager[Tx]:
        """A transaction; ``write=True`` ones are serialised (one writer at a time)."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # --- schema -------------------------------------------------------------------------------

    def migrations(self) -> list[tuple[int, str]]:
        folder = resources.files("exchange.store") / "migrations" / self.dialect
        found = []
        for entry in folder.iterdir():
            if entry.name.endswith(".sql"):
                found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
        return sorted(found)

    async def migrate(self, tx: Tx) -> None:
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT MAX(version) FROM schema_version")
        current = int(row[0]) if row and row[0] is not None else 0
        for version, script in self.migrations():
            if version <= current:
                continue
            for statement in _statements(script):
                await tx.execute(statement)
            await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def schema_version(self) -> tuple[int, int]:
        expected = max(v for v, _ in self.migrations())
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT MAX(version) FROM schema_version")
        return (int(row[0]) if row and row[0] is not None else 0, expected)

    async def ping(self) -> None:
        async with self.transaction() as tx:
            await tx.fetchone("SELECT 1")

    async def get_or_create_secret(self, name: str, value: bytes) -> bytes:
        async with self.transaction(write=True) as tx:
            await tx.execute(
                "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, value),
            )
            row = await tx.fetchone("SELECT value FROM secrets WHERE name = ?", (name,))
        assert row is not None
        return bytes(row[0])

    async def lock_ingest(self, tx: Tx) -> None:
        """Serialise ingest across processes; SQLite's write lock already does."""


    def notification_channel(self, name: str) -> PgChannel | None:
        return None


def _statements(script: str) -> list[str]:
    """Split a migration script on semicolons at line ends (no procedural SQL in migrations)."""
    out, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";")
            if statement:
                out.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return out
