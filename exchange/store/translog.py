"""The transparency log's tables, over the caller's transaction (docs/transparency.md).

:func:`append_leaves` is the one step the insert path takes: inside the transaction that
stores object versions it gives each its leaf and stores every subtree node the new leaves
complete, so no object is ever stored without its leaf, nor a leaf without its object.
Everything else reads O(log n) rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from exchange.crypto import object_leaf_hash
from exchange.errors import LogCorrupt
from exchange.translog.heads import Cosignature, LogKey, TreeHead
from exchange.translog.merkle import Frontier, Node

Row = Sequence[Any]
BACKFILL_CHUNK = 1000
_NODE_CHUNK = 200


class Tx(Protocol):
    async def execute(self, sql: str, params: Sequence[object] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...
    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...


async def tree_size(tx: Tx) -> int:
    row = await tx.fetchone("SELECT MAX(leaf_index) FROM log_leaves")
    return 0 if row is None or row[0] is None else int(row[0]) + 1


async def fetch_nodes(tx: Tx, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of ``nodes`` (those missing are left out)."""
    wanted = list(dict.fromkeys(nodes))
    out: dict[Node, bytes] = {}
    for start in range(0, len(wanted), _NODE_CHUNK):
        chunk = wanted[start : start + _NODE_CHUNK]
        rows = await tx.fetchall(
            "SELECT level, idx, hash FROM log_nodes WHERE "
            + " OR ".join("(level = ? AND idx = ?)" for _ in chunk),
            [v for node in chunk for v in node],
        )
        for level, idx, value in rows:
            out[(int(level), int(idx))] = bytes(value)
    return out


async def append_leaves(tx: Tx, leaves: Sequence[tuple[int, str, str, bytes]]) -> None:
    """Append ``(seq, stix_id, version, leaf_hash)`` leaves in order, in the caller's
    (write, ingest-locked) transaction."""
    if not leaves:
        return
    size = await tree_size(tx)
    edge = Frontier.nodes(size)
    held = await fetch_nodes(tx, edge)
    if len(held) != len(edge):
        raise LogCorrupt("the log's right edge is missing stored nodes; refusing to append")
    frontier = Frontier(size, held)
    leaf_rows: list[tuple[int, int, str, str]] = []
    node_rows: list[tuple[int, int, bytes]] = []
    for seq, stix_id, version, value in leaves:
        leaf_rows.append((frontier.size, seq, stix_id, version))
        node_rows.extend((level, idx, h) for (level, idx), h in frontier.append(value))
    await tx.executemany(
        "INSERT INTO log_leaves (leaf_index, seq, stix_id, version) VALUES (?, ?, ?, ?)",
        leaf_rows,
    )
    await tx.executemany("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)", node_rows)


async def backfill(tx: Tx) -> int:
    """Give a leaf to every stored object version that has none (databases from before the
    log), in storage order; return how many."""
    done = 0
    while True:
        row = await tx.fetchone("SELECT MAX(seq) FROM log_leaves")
        after = 0 if row is None or row[0] is None else int(row[0])
        rows = await tx.fetchall(
            "SELECT seq, stix_id, version, body FROM objects WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, BACKFILL_CHUNK),
        )
        if not rows:
            return done
        await append_leaves(tx, [(int(r[0]), r[1], r[2], object_leaf_hash(r[3])) for r in rows])
        done += len(rows)


async def leaf_index(tx: Tx, stix_id: str, version: str) -> int | None:
    row = await tx.fetchone(
        "SELECT leaf_index FROM log_leaves WHERE stix_id = ? AND version = ?"
        " ORDER BY leaf_index DESC LIMIT 1",
        (stix_id, version),
    )
    return None if row is None else int(row[0])


# --- keys, heads, cosignatures -----------------------------------------------------------------

KEY_COLS = "key_id, public_key, private_key, created, not_after"
HEAD_COLS = "tree_size, key_id, root_hash, issued, signature"


def _log_key(row: Row) -> LogKey:
    return LogKey(
        key_id=row[0],
        public_key=row[1],
        private_key=bytes(row[2]),
        created=row[3],
        not_after=row[4],
    )


def _head(row: Row) -> TreeHead:
    return TreeHead(
        tree_size=int(row[0]), key_id=row[1], root_hash=row[2], timestamp=row[3], signature=row[4]
    )


async def log_keys(tx: Tx) -> list[LogKey]:
    """Every log key, the current one (``not_after`` None) first, then newest to oldest."""
    rows = await tx.fetchall(
        f"SELECT {KEY_COLS} FROM log_keys"
        " ORDER BY CASE WHEN not_after IS NULL THEN 0 ELSE 1 END, created DESC, key_id"
    )
    return [_log_key(r) for r in rows]


async def add_log_key(tx: Tx, key: LogKey, retire_at: str | None) -> None:
    """Store ``key`` as the current key; with ``retire_at``, retire the others then."""
    if retire_at is not None:
        await tx.execute("UPDATE log_keys SET not_after = ? WHERE not_after IS NULL", (retire_at,))
    await tx.execute(
        f"INSERT INTO log_keys ({KEY_COLS}) VALUES (?, ?, ?, ?, NULL)"
        " ON CONFLICT (key_id) DO NOTHING",
        (key.key_id, key.public_key, key.private_key, key.created),
    )


async def save_head(tx: Tx, head: TreeHead) -> None:
    await tx.execute(
        f"INSERT INTO log_heads ({HEAD_COLS}) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tree_size, key_id) DO NOTHING",
        (head.tree_size, head.key_id, head.root_hash, head.timestamp, head.signature),
    )


async def get_head(tx: Tx, tree_size: int | None) -> TreeHead | None:
    """The newest head (of ``tree_size`` when given), with its cosignatures."""
    if tree_size is None:
        row = await tx.fetchone(
            f"SELECT {HEAD_COLS} FROM log_heads ORDER BY tree_size DESC, issued DESC LIMIT 1"
        )
    else:
        row = await tx.fetchone(
            f"SELECT {HEAD_COLS} FROM log_heads WHERE tree_size = ? ORDER BY issued DESC LIMIT 1",
            (tree_size,),
        )
    if row is None:
        return None
    head = _head(row)
    cosigs = await tx.fetchall(
        "SELECT member, key_id, signature, note_line FROM log_cosignatures"
        " WHERE tree_size = ? AND head_key_id = ? ORDER BY created, key_id",
        (head.tree_size, head.key_id),
    )
    return replace(
        head,
        cosignatures=tuple(
            Cosignature(member=c[0], key_id=c[1], signature=c[2], note_line=c[3]) for c in cosigs
        ),
    )


async def heads_of_size(tx: Tx, tree_size: int) -> list[TreeHead]:
    rows = await tx.fetchall(
        f"SELECT {HEAD_COLS} FROM log_heads WHERE tree_size = ? ORDER BY issued DESC",
        (tree_size,),
    )
    return [_head(r) for r in rows]


async def add_cosignature(tx: Tx, head: TreeHead, cosig: Cosignature, created: str) -> None:
    await tx.execute(
        "INSERT INTO log_cosignatures (tree_size, head_key_id, member, key_id, signature,"
        " created, note_line) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (tree_size, head_key_id, key_id) DO UPDATE SET"
        " signature = excluded.signature, created = excluded.created,"
        " note_line = COALESCE(excluded.note_line, log_cosignatures.note_line)",
        (
            head.tree_size,
            head.key_id,
            cosig.member,
            cosig.key_id,
            cosig.signature,
            created,
            cosig.note_line,
        ),
    )


# --- C2SP witnesses ----------------------------------------------------------------------------


async def witness_size(tx: Tx, witness: str) -> int:
    row = await tx.fetchone("SELECT tree_size FROM log_witness_state WHERE witness = ?", (witness,))
    return 0 if row is None else int(row[0])


async def set_witness_size(tx: Tx, witness: str, tree_size: int) -> None:
    await tx.execute(
        "INSERT INTO log_witness_state (witness, tree_size) VALUES (?, ?)"
        " ON CONFLICT (witness) DO UPDATE SET tree_size = excluded.tree_size",
        (witness, tree_size),
    )


async def add_witness_line(tx: Tx, head: TreeHead, witness: str, line: str) -> None:
    await tx.execute(
        "INSERT INTO log_witness_cosignatures (tree_size, head_key_id, witness, note_line)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (tree_size, head_key_id, witness)"
        " DO UPDATE SET note_line = excluded.note_line",
        (head.tree_size, head.key_id, witness, line),
    )


async def witness_lines(tx: Tx, head: TreeHead) -> list[str]:
    rows = await tx.fetchall(
        "SELECT note_line FROM log_witness_cosignatures WHERE tree_size = ? AND head_key_id = ?"
        " ORDER BY witness",
        (head.tree_size, head.key_id),
    )
    return [r[0] for r in rows]


if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlLog:
    """The transparency log's leaves, subtree hashes, keys, heads and cosignatures.

    The ``log`` repository: each method a transaction of its own over ``SqlStore``; leaves
    themselves are appended by ``SqlObjects.insert_objects`` inside its transaction."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- transparency log (exchange.store.translog) -------------------------------------------

    async def log_size(self) -> int:
        async with self.db.transaction() as tx:
            return await tree_size(tx)

    async def log_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        async with self.db.transaction() as tx:
            return await fetch_nodes(tx, nodes)

    async def log_leaf_index(self, stix_id: str, version: str) -> int | None:
        async with self.db.transaction() as tx:
            return await leaf_index(tx, stix_id, version)

    async def log_keys(self) -> list[LogKey]:
        async with self.db.transaction() as tx:
            return await log_keys(tx)

    async def add_log_key(self, key: LogKey, retire_at: str | None) -> None:
        async with self.db.transaction(write=True) as tx:
            await add_log_key(tx, key, retire_at)

    async def save_log_head(self, head: TreeHead) -> None:
        async with self.db.transaction(write=True) as tx:
            await save_head(tx, head)

    async def log_head(self, tree_size: int | None = None) -> TreeHead | None:
        async with self.db.transaction() as tx:
            return await get_head(tx, tree_size)

    async def log_heads_of_size(self, tree_size: int) -> list[TreeHead]:
        async with self.db.transaction() as tx:
            return await heads_of_size(tx, tree_size)

    async def add_log_cosignature(self, head: TreeHead, cosig: Cosignature, created: str) -> None:
        async with self.db.transaction(write=True) as tx:
            await add_cosignature(tx, head, cosig, created)

    async def log_witness_size(self, witness: str) -> int:
        async with self.db.transaction() as tx:
            return await witness_size(tx, witness)

    async def save_log_witness_cosignature(
        self, head: TreeHead, witness: str, line: str | None, tree_size: int
    ) -> None:
        async with self.db.transaction(write=True) as tx:
            if line is not None:
                await add_witness_line(tx, head, witness, line)
            await set_witness_size(tx, witness, tree_size)

    async def log_witness_lines(self, head: TreeHead) -> list[str]:
        async with self.db.transaction() as tx:
            return await witness_lines(tx, head)
