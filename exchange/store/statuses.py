"""Status resources and the delivery ledger.

The ``statuses`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from exchange.models import (
    Delivery,
    Status,
    StoredObject,
)
from exchange.store.rows import Tx

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlStatuses:
    """Status resources and the delivery ledger."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- statuses -----------------------------------------------------------------------------

    async def save_status(self, status: Status) -> None:
        async with self.db.transaction(write=True) as tx:
            await insert_status(tx, status)

    async def get_status(self, status_id: str) -> Status | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT body FROM statuses WHERE id = ?", (status_id,))
        return Status.model_validate_json(row[0]) if row else None

    async def expire_statuses(self, before: str) -> int:
        async with self.db.transaction(write=True) as tx:
            return await tx.execute("DELETE FROM statuses WHERE created < ?", (before,))

    # --- deliveries ---------------------------------------------------------------------------

    async def record_deliveries(
        self, member_id: str, objects: Sequence[StoredObject], when: str
    ) -> None:
        if not objects:
            return
        async with self.db.transaction(write=True) as tx:
            # Only versions still held: the ledger writes in batches, and a retention purge
            # between a read and its batch must not leave records of what it removed. The
            # purge holds the ingest lock; taking it here too orders the two (on PostgreSQL a
            # purge committing while this runs would otherwise leave this batch's rows).
            await self.db.lock_ingest(tx)
            await tx.executemany(
                "INSERT INTO deliveries (member, stix_id, version, delivered)"
                " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM objects o"
                " WHERE o.stix_id = ? AND o.version = ?)"
                " ON CONFLICT (stix_id, version, member) DO NOTHING",
                [(member_id, o.stix_id, o.version, when, o.stix_id, o.version) for o in objects],
            )

    async def list_deliveries(self, stix_id: str) -> list[Delivery]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT member, stix_id, version, delivered FROM deliveries WHERE stix_id = ?"
                " ORDER BY delivered, member, version",
                (stix_id,),
            )
        return [Delivery(member=r[0], stix_id=r[1], version=r[2], delivered=r[3]) for r in rows]


async def insert_status(tx: Tx, status: Status) -> None:
    """Save a status resource in the caller's transaction (``SqlObjects.insert_objects``
    saves the status of a post with its objects)."""
    await tx.execute(
        "INSERT INTO statuses (id, member, created, body) VALUES (?, ?, ?, ?)",
        (status.id, status.member, status.request_timestamp, status.model_dump_json()),
    )
