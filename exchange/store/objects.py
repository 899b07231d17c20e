"""Object versions: insert, the read query, withdrawal, facts.

The ``objects`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from exchange.crypto import object_leaf_hash
from exchange.errors import InvalidInput
from exchange.models import (
    InsertOutcome,
    InsertResult,
    NewObject,
    Page,
    Principal,
    ReadQuery,
    Status,
    Tlp,
)
from exchange.policy import ObjectFacts
from exchange.store import translog
from exchange.store.query import CompiledPolicy, build_read
from exchange.store.rows import Tx, chunks, refresh_heads, stored_from_row
from exchange.store.statuses import insert_status
from exchange.timeutil import format_ts, now, parse_ts

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


async def _held_versions(
    tx: Tx, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(body, deleted_at) of the stored versions among ``keys`` ((stix_id, version) pairs)."""
    wanted = set(keys)
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    ids = list(dict.fromkeys(k[0] for k in keys))
    versions = list(dict.fromkeys(k[1] for k in keys))
    for id_chunk in chunks(ids, 400):
        for version_chunk in chunks(versions, 400):
            rows = await tx.fetchall(
                "SELECT stix_id, version, body, deleted_at FROM objects WHERE stix_id IN ("
                + ", ".join("?" for _ in id_chunk)
                + ") AND version IN ("
                + ", ".join("?" for _ in version_chunk)
                + ")",
                [*id_chunk, *version_chunk],
            )
            for stix_id, version, body, deleted_at in rows:
                if (stix_id, version) in wanted:
                    out[(stix_id, version)] = (body, deleted_at)
    return out


class SqlObjects:
    """Object versions: insert, the read query, withdrawal, facts."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db
        self.compiled = CompiledPolicy()

    # --- objects ------------------------------------------------------------------------------

    async def insert_objects(
        self,
        objects: Sequence[NewObject],
        status: Callable[[list[InsertResult]], Status] | None = None,
        after: Callable[[Tx, list[InsertResult]], Awaitable[None]] | None = None,
    ) -> list[InsertResult]:
        if not objects and status is None:
            return []
        # Leaf hashes (JCS + SHA-256) are computed before the write lock is taken.
        leaves = [object_leaf_hash(o.body) for o in objects]
        async with self.db.transaction(write=True) as tx:
            await self.db.lock_ingest(tx)
            results = await self.insert_in(tx, objects, leaves)
            if status is not None:
                # The post's status resource in the same transaction: both commit, or (when
                # anything fails, ``status`` raising included) neither does.
                await insert_status(tx, status(list(results)))
            if after is not None:
                # what else the caller keeps with these objects (an import's proofs, its cursor)
                await after(tx, list(results))
        return results

    async def insert_in(
        self, tx: Tx, objects: Sequence[NewObject], leaves: Sequence[bytes]
    ) -> list[InsertResult]:
        """Insert object versions in the caller's write transaction, which holds the ingest
        lock (anonymous copies are released through this too, ``exchange.store.privacy``).

        One statement per table (each an ``executemany``), not several per object: with
        aiosqlite every statement is a round trip to its thread, and with asyncpg one to the
        server."""
        results: list[InsertResult] = []
        appended: list[tuple[int, str, str, bytes]] = []
        object_rows: list[tuple[object, ...]] = []
        audience_rows: list[tuple[object, ...]] = []
        end_rows: list[tuple[object, ...]] = []
        marking_rows: list[tuple[object, ...]] = []
        user_rows: list[tuple[object, ...]] = []
        audience_marking_rows: list[tuple[object, ...]] = []
        marking_audience_rows: list[tuple[object, ...]] = []
        clock = await tx.fetchone("SELECT last_date_added, last_seq FROM clock WHERE id = 1")
        assert clock is not None
        last = parse_ts(clock[0])
        seq = int(clock[1])
        # (stix_id, version) -> (body, deleted_at) of what is stored, and of what this
        # envelope stores before a later entry with the same id and version
        held = await _held_versions(tx, [(o.stix_id, o.version) for o in objects if o.version])
        for obj, leaf in zip(objects, leaves, strict=True):
            version = obj.version
            if version:
                existing = held.get((obj.stix_id, version))
                if existing is not None:
                    same = existing[0] == obj.body and existing[1] is None
                    results.append(
                        InsertResult(
                            stix_id=obj.stix_id,
                            version=version,
                            outcome=InsertOutcome.DUPLICATE if same else InsertOutcome.CONFLICT,
                        )
                    )
                    continue
            # Distinct, strictly increasing date_added values, even within one request
            # and across workers (the ingest lock serialises writers).
            stamp = max(now(), last + timedelta(microseconds=1))
            last = stamp
            seq += 1
            date_added = format_ts(stamp)
            version = version or date_added
            held[(obj.stix_id, version)] = (obj.body, None)
            object_rows.append(
                (
                    seq,
                    obj.stix_id,
                    obj.type,
                    obj.spec_version,
                    version,
                    obj.version_text,
                    obj.created,
                    date_added,
                    obj.author_identity,
                    obj.poster_member,
                    obj.tlp.value if obj.tlp else None,
                    obj.key_id,
                    obj.body,
                    obj.key_id,
                    version,
                )
            )
            audience_rows += [(seq, p) for p in dict.fromkeys(obj.audience)]
            end_rows += [(seq, r) for r in dict.fromkeys(obj.ends)]
            marking_rows += [(seq, m) for m in dict.fromkeys(obj.markings)]
            if obj.author_identity is not None:
                user_rows += [(m, obj.author_identity) for m in dict.fromkeys(obj.markings)]
            if obj.type == "marking-definition" and obj.audience_entries is not None:
                audience_marking_rows.append(
                    (obj.stix_id, obj.author_identity, json.dumps(list(obj.audience_entries)))
                )
                marking_audience_rows += [
                    (obj.stix_id, p) for p in dict.fromkeys(obj.audience_entries)
                ]
            results.append(
                InsertResult(
                    stix_id=obj.stix_id,
                    version=version,
                    outcome=InsertOutcome.INSERTED,
                    date_added=date_added,
                    seq=seq,
                )
            )
            appended.append((seq, obj.stix_id, version, leaf))
        for sql, rows in (
            (
                "INSERT INTO objects (seq, stix_id, type, spec_version, version,"
                " version_text, created, date_added, author_identity, poster_member, tlp,"
                " key_id, body, key_revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, (SELECT k.revoked_since FROM keys k WHERE k.key_id = ?"
                " AND k.revoked_since <= ?))",
                object_rows,
            ),
            ("INSERT INTO object_audience (seq, principal) VALUES (?, ?)", audience_rows),
            ("INSERT INTO object_ends (seq, ref_id) VALUES (?, ?)", end_rows),
            ("INSERT INTO object_markings (seq, marking_id) VALUES (?, ?)", marking_rows),
            (
                "INSERT INTO marking_users (marking_id, author_identity)"
                " VALUES (?, ?) ON CONFLICT (marking_id, author_identity) DO NOTHING",
                user_rows,
            ),
            (
                "INSERT INTO audience_markings (marking_id, author_identity, entries)"
                " VALUES (?, ?, ?) ON CONFLICT (marking_id) DO NOTHING",
                audience_marking_rows,
            ),
            (
                "INSERT INTO marking_audience (marking_id, principal) VALUES (?, ?)"
                " ON CONFLICT (marking_id, principal) DO NOTHING",
                marking_audience_rows,
            ),
        ):
            if rows:
                await tx.executemany(sql, rows)
        # every stored version gets its log leaf in this same transaction
        await translog.append_leaves(tx, appended)
        await tx.execute(
            "UPDATE clock SET last_date_added = ?, last_seq = ? WHERE id = 1",
            (format_ts(last), seq),
        )
        await refresh_heads(tx, [r.stix_id for r in results if r.outcome is InsertOutcome.INSERTED])
        return results

    async def read_objects(
        self, reader: Principal, query: ReadQuery, with_body: bool = True
    ) -> Page:
        if query.limit < 1:
            raise InvalidInput("limit must be at least 1")
        sql = build_read(reader, query, with_body, self.compiled)
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(sql.text, sql.params)
        more = len(rows) > query.limit
        return Page(objects=tuple(stored_from_row(r) for r in rows[: query.limit]), more=more)

    async def object_authors(self, stix_ids: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        ids = list(dict.fromkeys(stix_ids))
        async with self.db.transaction() as tx:
            for chunk in chunks(ids, 500):
                rows = await tx.fetchall(
                    "SELECT DISTINCT stix_id, author_identity FROM objects WHERE stix_id IN ("
                    + ", ".join("?" for _ in chunk)
                    + ")",
                    chunk,
                )
                for stix_id, author in rows:
                    out[stix_id] = author
        return out

    async def audience_markings(
        self, marking_ids: Sequence[str]
    ) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
        out: dict[str, tuple[str, str | None, tuple[str, ...]]] = {}
        ids = list(dict.fromkeys(marking_ids))
        async with self.db.transaction() as tx:
            for chunk in chunks(ids, 500):
                rows = await tx.fetchall(
                    "SELECT marking_id, author_identity, entries FROM audience_markings"
                    " WHERE marking_id IN (" + ", ".join("?" for _ in chunk) + ")",
                    chunk,
                )
                for mid, author, entries in rows:
                    out[mid] = (mid, author, tuple(json.loads(entries)))
        return out

    async def object_facts(self, stix_id: str) -> list[ObjectFacts]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT o.seq, o.type, o.tlp, o.author_identity, m.sector, o.deleted_at, o.version,"
                " o.key_revoked_at"
                " FROM objects o LEFT JOIN members m ON m.identity = o.author_identity"
                " WHERE o.stix_id = ? ORDER BY o.version",
                (stix_id,),
            )
            facts = []
            for seq, typ, tlp, author, sector, deleted, version, revoked in rows:
                aud = await tx.fetchall(
                    "SELECT principal FROM object_audience WHERE seq = ? ORDER BY principal", (seq,)
                )
                ends = await tx.fetchall(
                    "SELECT ref_id FROM object_ends WHERE seq = ? ORDER BY ref_id", (seq,)
                )
                facts.append(
                    ObjectFacts(
                        stix_id=stix_id,
                        type=typ,
                        tlp=Tlp(tlp) if tlp else None,
                        author_identity=author,
                        author_sector=sector,
                        audience=tuple(a[0] for a in aud),
                        deleted=deleted is not None,
                        version=version,
                        key_revoked=revoked is not None,
                        ends=tuple(e[0] for e in ends),
                    )
                )
        return facts

    async def marking_referrers(self, marking_id: str) -> list[str]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT DISTINCT h.stix_id FROM object_markings m"
                " JOIN object_heads h ON h.head_seq = m.seq"
                " WHERE m.marking_id = ? ORDER BY h.stix_id",
                (marking_id,),
            )
        return [r[0] for r in rows]

    async def delete_objects(self, stix_id: str, versions: Sequence[str] | None, when: str) -> int:
        async with self.db.transaction(write=True) as tx:
            if versions is None:
                count = await tx.execute(
                    "UPDATE objects SET deleted_at = ? WHERE stix_id = ? AND deleted_at IS NULL",
                    (when, stix_id),
                )
            else:
                count = 0
                for version in versions:
                    count += await tx.execute(
                        "UPDATE objects SET deleted_at = ?"
                        " WHERE stix_id = ? AND version = ? AND deleted_at IS NULL",
                        (when, stix_id, version),
                    )
            await refresh_heads(tx, [stix_id])
            return count

    async def count_objects(self) -> tuple[int, int]:
        """(live, withdrawn) object versions; withdrawn: deleted or signed by a revoked key."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT COUNT(*), COUNT(CASE WHEN deleted_at IS NOT NULL"
                " OR key_revoked_at IS NOT NULL THEN 1 END) FROM objects"
            )
        total, withdrawn = (int(row[0]), int(row[1])) if row else (0, 0)
        return total - withdrawn, withdrawn

    async def latest_seq(self) -> int:
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT last_seq FROM clock WHERE id = 1")
        return int(row[0]) if row else 0
