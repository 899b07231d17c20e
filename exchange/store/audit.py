"""The audit log: administrator actions and refused requests, append-only.

The ``audit`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from exchange.models import AuditEntry, AuditOutcome

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlAudit:
    """Audit entries, in the order they were recorded."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    async def record_audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        async with self.db.transaction(write=True) as tx:
            await tx.executemany(
                "INSERT INTO audit (at, actor, action, target, member, outcome, reason, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.at,
                        e.actor,
                        e.action,
                        e.target,
                        e.member,
                        e.outcome.value,
                        e.reason,
                        orjson.dumps(e.details).decode(),
                    )
                    for e in entries
                ],
            )

    async def list_audit(
        self, since: str | None = None, member: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries at or after ``since`` (about ``member`` when given), oldest first."""
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if member is not None:
            where.append("member = ?")
            params.append(member)
        sql = (
            "SELECT seq, at, actor, action, target, member, outcome, reason, details FROM audit"
            f" WHERE {' AND '.join(where)} ORDER BY seq"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(sql, tuple(params))
        return [
            AuditEntry(
                seq=int(r[0]),
                at=str(r[1]),
                actor=str(r[2]),
                action=str(r[3]),
                target=r[4],
                member=r[5],
                outcome=AuditOutcome(r[6]),
                reason=r[7],
                details=orjson.loads(r[8]),
            )
            for r in rows
        ]
