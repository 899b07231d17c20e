"""What the SQL repositories share: the driver's transaction interface and row decoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from exchange.models import (
    Key,
    Member,
    MemberKind,
    MemberStatus,
    ShareLevel,
    StoredObject,
    Tlp,
    Token,
    TokenScope,
)
from exchange.timeutil import parse_ts

_Item = TypeVar("_Item")

Row = Sequence[Any]


class Tx(Protocol):
    async def execute(self, sql: str, params: Sequence[object] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...
    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...


def ts_or_none(value: str | None) -> Any:
    return parse_ts(value) if value else None


def member_from_row(row: Row) -> Member:
    return Member(
        id=row[0],
        identity=row[1],
        name=row[2],
        kind=MemberKind(row[3]),
        sector=row[4],
        economy=row[5],
        status=MemberStatus(row[6]),
        created=parse_ts(row[7]),
        share=ShareLevel(row[8]) if row[8] else None,
    )


def token_from_row(row: Row) -> Token:
    return Token(
        token_id=row[0],
        member=row[1],
        token_hash=row[2],
        scope=TokenScope(row[3]),
        created=parse_ts(row[4]),
        expires=ts_or_none(row[5]),
        revoked=ts_or_none(row[6]),
        last_used=ts_or_none(row[7]),
    )


def key_from_row(row: Row) -> Key:
    return Key(
        key_id=row[0],
        member=row[1],
        identity=row[2],
        public_key=row[3],
        not_before=parse_ts(row[4]),
        not_after=ts_or_none(row[5]),
        revoked_since=ts_or_none(row[6]),
        created=parse_ts(row[7]),
    )


def stored_from_row(row: Row) -> StoredObject:
    # The read path's hottest line: rows come from the exchange's own schema, typed by it,
    # so the model is built without validating again (about a third of the read path's CPU
    # per object otherwise; bench/read_cpu.py).
    return StoredObject.model_construct(
        seq=int(row[0]),
        stix_id=row[1],
        type=row[2],
        spec_version=row[3],
        version=row[4],
        date_added=row[5],
        author_identity=row[6],
        tlp=Tlp(row[7]) if row[7] else None,
        version_text=row[8],
        body=row[9] or "",
    )


MEMBER_COLS = "id, identity, name, kind, sector, economy, status, created, share"
TOKEN_COLS = "token_id, member, token_hash, scope, created, expires, revoked, last_used"
KEY_COLS = "key_id, member, identity, public_key, not_before, not_after, revoked_since, created"


async def refresh_heads(tx: Tx, stix_ids: Sequence[str]) -> None:
    """Point ``object_heads``, and the ``is_head`` flag of ``objects``, at each object's
    latest live version (none when every version is withdrawn), in the caller's
    transaction."""
    # four statements whatever the count (executemany: one round trip each); each touches
    # only the rows of its own object, so running them object by object is the same
    rows = [(stix_id,) for stix_id in dict.fromkeys(stix_ids)]
    if not rows:
        return
    await tx.executemany("UPDATE objects SET is_head = 0 WHERE stix_id = ? AND is_head = 1", rows)
    await tx.executemany("DELETE FROM object_heads WHERE stix_id = ?", rows)
    await tx.executemany(
        "INSERT INTO object_heads (stix_id, head_seq) SELECT stix_id, seq FROM objects"
        " WHERE stix_id = ? AND deleted_at IS NULL AND key_revoked_at IS NULL"
        " ORDER BY version DESC LIMIT 1",
        rows,
    )
    await tx.executemany(
        "UPDATE objects SET is_head = 1 WHERE seq ="
        " (SELECT head_seq FROM object_heads WHERE stix_id = ?)",
        rows,
    )


def chunks(items: list[_Item], size: int) -> list[list[_Item]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
