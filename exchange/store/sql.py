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

from exchange.store import translog
from exchange.store.audit import SqlAudit
from exchange.store.counters import SqlCounters
from exchange.store.members import SqlMembers
from exchange.store.objects import SqlObjects
from exchange.store.rows import Tx
from exchange.store.sharing import SqlSharing
from exchange.store.statuses import SqlStatuses
from exchange.store.translog import SqlLog

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel

# What a transaction that was cut halfway would leave behind, if the store ever let it: each
# query lists the offending ids (none, always, since every write is one transaction).
CONSISTENCY_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "an object version without its audience",
        "SELECT o.stix_id FROM objects o"
        " WHERE o.type <> 'marking-definition' AND NOT EXISTS"
        " (SELECT 1 FROM object_audience a WHERE a.seq = o.seq)",
    ),
    (
        "a relationship or sighting without its ends",
        "SELECT o.stix_id FROM objects o"
        " WHERE o.type IN ('relationship', 'sighting') AND NOT EXISTS"
        " (SELECT 1 FROM object_ends e WHERE e.seq = o.seq)",
    ),
    (
        "an object whose latest live version is not its head",
        "SELECT o.stix_id FROM objects o"
        " WHERE o.deleted_at IS NULL AND o.key_revoked_at IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM objects l WHERE l.stix_id = o.stix_id AND l.deleted_at IS NULL"
        " AND l.key_revoked_at IS NULL AND l.version > o.version) AND NOT EXISTS"
        " (SELECT 1 FROM object_heads h WHERE h.stix_id = o.stix_id AND h.head_seq = o.seq)",
    ),
    (
        "a head that is not a live version",
        "SELECT h.stix_id FROM object_heads h"
        " WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.seq = h.head_seq"
        " AND o.stix_id = h.stix_id AND o.deleted_at IS NULL AND o.key_revoked_at IS NULL)",
    ),
    (
        "a head flag that disagrees with object_heads",
        "SELECT o.stix_id FROM objects o WHERE (o.is_head = 1) <> EXISTS"
        " (SELECT 1 FROM object_heads h WHERE h.head_seq = o.seq)",
    ),
    (
        "an audience marking without its entries",
        "SELECT am.marking_id FROM audience_markings am"
        " WHERE NOT EXISTS (SELECT 1 FROM marking_audience ma WHERE ma.marking_id = am.marking_id)",
    ),
    (
        "the clock behind the stored objects",
        "SELECT c.last_seq FROM clock c"
        " WHERE c.last_seq < (SELECT COALESCE(MAX(seq), 0) FROM objects)",
    ),
)


LOG_MIGRATION = 6  # 0006_transparency_log


class SqlStore(ABC):
    """The database: its lifecycle, schema and transactions, and the repositories over them
    (``members``, ``sharing``, ``objects``, ``statuses``, ``counters``, ``log``,
    ``audit``); subclasses supply
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

    @cached_property
    def log(self) -> SqlLog:
        return SqlLog(self)

    @cached_property
    def audit(self) -> SqlAudit:
        return SqlAudit(self)

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
        applied = await _applied(tx)
        # Every migration not yet applied, in order: not only those above the highest one
        # applied, so a migration that landed after a higher-numbered one is not skipped.
        for version, script in self.migrations():
            if version in applied:
                continue
            for statement in _statements(script):
                await tx.execute(statement)
            await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        # Objects stored before the transparency log get their leaves now, in storage order,
        # under the ingest lock (other workers may be ingesting already).
        if LOG_MIGRATION in await _applied(tx):  # the log's tables exist
            await self.lock_ingest(tx)
            await translog.backfill(tx)

    async def schema_version(self) -> tuple[int, int]:
        """(the version the database is at, the version this code expects): the database is
        at N when every migration of this code up to N is applied (so a gap reads as behind)
        and above ``expected`` when a newer release migrated it."""
        known = [v for v, _ in self.migrations()]
        async with self.transaction() as tx:
            applied = await _applied(tx)
        missing = [v for v in known if v not in applied]
        current = min(missing) - 1 if missing else max(applied | {0})
        return (current, max(known))

    async def ping(self) -> None:
        async with self.transaction() as tx:
            await tx.fetchone("SELECT 1")

    async def check_integrity(self) -> list[str]:
        problems: list[str] = []
        async with self.transaction() as tx:
            if self.dialect == "sqlite":
                rows = await tx.fetchall("PRAGMA integrity_check")
                problems += [f"sqlite: {r[0]}" for r in rows if r[0] != "ok"]
            for problem, query in CONSISTENCY_CHECKS:
                for row in await tx.fetchall(query):
                    problems.append(f"{problem}: {row[0]}")
        return problems

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


async def _applied(tx: Tx) -> set[int]:
    return {int(r[0]) for r in await tx.fetchall("SELECT version FROM schema_version")}


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
