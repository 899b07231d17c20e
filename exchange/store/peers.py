"""Peers this exchange pulls from, the keys mirrored from their key directories, and the
proofs that what it imported is in their logs (docs/federation.md).

The ``peers`` repository: each method a transaction of its own over ``SqlStore``; an import
batch, its proofs and the pull's cursor commit in one transaction with the objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from exchange.errors import Conflict, NotFound
from exchange.models import InsertResult, NewObject, Peer, PeerKey, PeerProof, PullProgress
from exchange.store.rows import Tx, chunks, refresh_heads
from exchange.timeutil import format_ts, parse_ts

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore

PEER_COLS = (
    "name, url, created, added_after, next_cursor, imported, last_pull, head, tree_size, problems"
)
PEER_KEY_COLS = (
    "key_id, identity, public_key, not_before, not_after, revoked_since, exchange, created"
)


def _peer(row: Sequence[object]) -> Peer:
    return Peer(
        name=str(row[0]),
        url=str(row[1]),
        created=str(row[2]),
        added_after=None if row[3] is None else str(row[3]),
        next_cursor=None if row[4] is None else str(row[4]),
        imported=int(str(row[5])),
        last_pull=None if row[6] is None else str(row[6]),
        head=None if row[7] is None else str(row[7]),
        tree_size=int(str(row[8])),
        problems=tuple(json.loads(str(row[9]))),
    )


def _peer_key(row: Sequence[object]) -> PeerKey:
    return PeerKey(
        key_id=str(row[0]),
        identity=str(row[1]),
        public_key=str(row[2]),
        not_before=parse_ts(str(row[3])),
        not_after=None if row[4] is None else parse_ts(str(row[4])),
        revoked_since=None if row[5] is None else parse_ts(str(row[5])),
        exchange=str(row[6]),
        created=parse_ts(str(row[7])),
    )


def _ts(value: object) -> str | None:
    from datetime import datetime

    return format_ts(value) if isinstance(value, datetime) else None


async def _save_progress(tx: Tx, name: str, progress: PullProgress, imported: int) -> None:
    await tx.execute(
        "UPDATE peers SET added_after = ?, next_cursor = ?, head = ?, tree_size = ?,"
        " last_pull = ?, problems = ?, imported = imported + ? WHERE name = ?",
        (
            progress.added_after,
            progress.next_cursor,
            progress.head,
            progress.tree_size,
            progress.last_pull,
            json.dumps(list(progress.problems)),
            imported,
            name,
        ),
    )


class SqlPeers:
    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- the peers ----------------------------------------------------------------------------

    async def add_peer(self, peer: Peer, token_sealed: str) -> None:
        async with self.db.transaction(write=True) as tx:
            if await tx.fetchone(
                "SELECT 1 FROM peers WHERE name = ? OR url = ?", (peer.name, peer.url)
            ):
                raise Conflict(f"a peer named {peer.name!r} or at {peer.url} exists already")
            await tx.execute(
                "INSERT INTO peers (name, url, token_sealed, created) VALUES (?, ?, ?, ?)",
                (peer.name, peer.url, token_sealed, peer.created),
            )

    async def get_peer(self, name: str) -> Peer:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(f"SELECT {PEER_COLS} FROM peers WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no peer {name!r}")
        return _peer(row)

    async def peer_token(self, name: str) -> str:
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT token_sealed FROM peers WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no peer {name!r}")
        return str(row[0])

    async def list_peers(self) -> list[Peer]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(f"SELECT {PEER_COLS} FROM peers ORDER BY name")
        return [_peer(r) for r in rows]

    async def remove_peer(self, name: str) -> None:
        """Stop pulling from it; what was imported, its keys and proofs stay."""
        async with self.db.transaction(write=True) as tx:
            if not await tx.execute("DELETE FROM peers WHERE name = ?", (name,)):
                raise NotFound(f"no peer {name!r}")
            await tx.execute("DELETE FROM peer_key_sources WHERE peer = ?", (name,))

    async def take_lease(self, name: str, owner: str, now: str, until: str) -> bool:
        """Whether ``owner`` holds the pull lease of ``name`` until ``until`` (taken when it
        is free or expired, renewed when it is ``owner``'s): one worker pulls a peer."""
        async with self.db.transaction(write=True) as tx:
            changed = await tx.execute(
                "UPDATE peers SET lease_owner = ?, lease_until = ? WHERE name = ? AND"
                " (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                (owner, until, name, owner, now),
            )
        return bool(changed)

    async def release_lease(self, name: str, owner: str) -> None:
        async with self.db.transaction(write=True) as tx:
            await tx.execute(
                "UPDATE peers SET lease_owner = NULL, lease_until = NULL"
                " WHERE name = ? AND lease_owner = ?",
                (name, owner),
            )

    async def save_progress(self, name: str, progress: PullProgress) -> None:
        async with self.db.transaction(write=True) as tx:
            await _save_progress(tx, name, progress, 0)

    async def import_batch(
        self,
        name: str,
        objects: Sequence[NewObject],
        proofs: Sequence[PeerProof],
        progress: PullProgress,
    ) -> list[InsertResult]:
        """Store imported objects (each a leaf of this exchange's log, as every insert is),
        the proofs of their inclusion in the peer's log and the pull's new cursor, in one
        transaction: a crash leaves either all of it or none."""

        async def record(tx: Tx, results: list[InsertResult]) -> None:
            from exchange.models import InsertOutcome

            imported = sum(1 for r in results if r.outcome is InsertOutcome.INSERTED)
            for p in proofs:
                await tx.execute(
                    "INSERT INTO peer_proofs (stix_id, version, peer, exchange, leaf_index,"
                    " tree_size, audit_path, head, log_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (stix_id, version, peer) DO NOTHING",
                    (
                        p.stix_id,
                        p.version,
                        p.peer,
                        p.exchange,
                        p.leaf_index,
                        p.tree_size,
                        json.dumps(list(p.audit_path)),
                        p.head,
                        p.log_key,
                    ),
                )
            await _save_progress(tx, name, progress, imported)

        if not objects:
            async with self.db.transaction(write=True) as tx:
                await record(tx, [])
            return []
        return await self.db.objects.insert_objects(objects, after=record)

    # --- mirrored keys ------------------------------------------------------------------------

    async def mirror_keys(self, peer: str, keys: Sequence[PeerKey]) -> list[str]:
        """Keep the keys of a peer's directory; a revocation listed there withdraws, here
        and in the same transaction, what the key signed for the revoked window (as
        ``key revoke --since`` does for local keys). Returns the keys newly revoked."""
        revoked: list[str] = []
        touched: list[str] = []
        async with self.db.transaction(write=True) as tx:
            for key in keys:
                row = await tx.fetchone(
                    "SELECT revoked_since FROM peer_keys WHERE key_id = ?", (key.key_id,)
                )
                since = _ts(key.revoked_since)
                if row is None:
                    await tx.execute(
                        f"INSERT INTO peer_keys ({PEER_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            key.key_id,
                            key.identity,
                            key.public_key,
                            format_ts(key.not_before),
                            _ts(key.not_after),
                            since,
                            key.exchange,
                            format_ts(key.created),
                        ),
                    )
                elif since is not None and (row[0] is None or str(row[0]) > since):
                    # an earlier revocation stays: revoking again can only move it back
                    await tx.execute(
                        "UPDATE peer_keys SET revoked_since = ? WHERE key_id = ?",
                        (since, key.key_id),
                    )
                else:
                    since = None
                await tx.execute(
                    "INSERT INTO peer_key_sources (peer, key_id) VALUES (?, ?)"
                    " ON CONFLICT (peer, key_id) DO NOTHING",
                    (peer, key.key_id),
                )
                if since is not None:
                    revoked.append(key.key_id)
                    await tx.execute(
                        "UPDATE objects SET key_revoked_at = ? WHERE key_id = ? AND version >= ?"
                        " AND (key_revoked_at IS NULL OR key_revoked_at > ?)",
                        (since, key.key_id, since, since),
                    )
                    rows = await tx.fetchall(
                        "SELECT DISTINCT stix_id FROM objects WHERE key_id = ? AND version >= ?",
                        (key.key_id, since),
                    )
                    touched.extend(str(r[0]) for r in rows)
            await refresh_heads(tx, touched)
        return revoked

    async def peer_keys(self, peer: str, key_ids: Sequence[str]) -> dict[str, PeerKey]:
        """The keys ``peer``'s directory lists, of those asked for."""
        out: dict[str, PeerKey] = {}
        cols = ", ".join(f"k.{c.strip()}" for c in PEER_KEY_COLS.split(","))
        async with self.db.transaction() as tx:
            for chunk in chunks(list(dict.fromkeys(key_ids)), 500):
                rows = await tx.fetchall(
                    f"SELECT {cols} FROM peer_keys k JOIN peer_key_sources s"
                    " ON s.key_id = k.key_id AND s.peer = ? WHERE k.key_id IN ("
                    + ", ".join("?" for _ in chunk)
                    + ")",
                    (peer, *chunk),
                )
                for row in rows:
                    key = _peer_key(row)
                    out[key.key_id] = key
        return out

    async def list_peer_keys(self) -> list[PeerKey]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {PEER_KEY_COLS} FROM peer_keys ORDER BY created, key_id"
            )
        return [_peer_key(r) for r in rows]

    # --- proofs -------------------------------------------------------------------------------

    async def proofs(self, stix_id: str, version: str) -> list[PeerProof]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT stix_id, version, peer, exchange, leaf_index, tree_size, audit_path,"
                " head, log_key FROM peer_proofs WHERE stix_id = ? AND version = ?"
                " ORDER BY peer",
                (stix_id, version),
            )
        return [
            PeerProof(
                stix_id=str(r[0]),
                version=str(r[1]),
                peer=str(r[2]),
                exchange=str(r[3]),
                leaf_index=int(str(r[4])),
                tree_size=int(str(r[5])),
                audit_path=tuple(json.loads(str(r[6]))),
                head=str(r[7]),
                log_key=str(r[8]),
            )
            for r in rows
        ]
