"""Members, their tokens and their signing keys.

The ``members`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchange.errors import Conflict, NotFound
from exchange.models import (
    Key,
    Member,
    MemberStatus,
    Token,
)
from exchange.store.rows import (
    KEY_COLS,
    MEMBER_COLS,
    TOKEN_COLS,
    key_from_row,
    member_from_row,
    refresh_heads,
    token_from_row,
)
from exchange.timeutil import format_ts

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlMembers:
    """Members, their tokens and their signing keys."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- members ------------------------------------------------------------------------------

    async def add_member(self, member: Member) -> None:
        async with self.db.transaction(write=True) as tx:
            if await tx.fetchone("SELECT 1 FROM members WHERE name = ?", (member.name,)):
                raise Conflict(f"a member named {member.name!r} exists already")
            await tx.execute(
                f"INSERT INTO members ({MEMBER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    member.id,
                    member.identity,
                    member.name,
                    member.kind.value,
                    member.sector,
                    member.economy,
                    member.status.value,
                    format_ts(member.created),
                    member.share.value if member.share else None,
                ),
            )

    async def get_member(self, member_id: str) -> Member:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(f"SELECT {MEMBER_COLS} FROM members WHERE id = ?", (member_id,))
        if row is None:
            raise NotFound(f"no member {member_id!r}")
        return member_from_row(row)

    async def get_member_by_identity(self, identity: str) -> Member | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {MEMBER_COLS} FROM members WHERE identity = ?", (identity,)
            )
        return member_from_row(row) if row else None

    async def list_members(self) -> list[Member]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(f"SELECT {MEMBER_COLS} FROM members ORDER BY created, id")
        return [member_from_row(r) for r in rows]

    async def set_member_status(self, member_id: str, status: MemberStatus) -> Member:
        async with self.db.transaction(write=True) as tx:
            if not await tx.execute(
                "UPDATE members SET status = ? WHERE id = ?", (status.value, member_id)
            ):
                raise NotFound(f"no member {member_id!r}")
        return await self.get_member(member_id)

    # --- tokens -------------------------------------------------------------------------------

    async def add_token(self, token: Token) -> None:
        async with self.db.transaction(write=True) as tx:
            await tx.execute(
                f"INSERT INTO tokens ({TOKEN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token.token_id,
                    token.member,
                    token.token_hash,
                    token.scope.value,
                    format_ts(token.created),
                    format_ts(token.expires) if token.expires else None,
                    None,
                    None,
                ),
            )

    async def list_tokens(self, member_id: str | None = None) -> list[Token]:
        where, params = ("WHERE member = ?", (member_id,)) if member_id else ("", ())
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {TOKEN_COLS} FROM tokens {where} ORDER BY created, token_id", params
            )
        return [token_from_row(r) for r in rows]

    async def touch_token(self, token_id: str, when: str, unless_after: str) -> None:
        async with self.db.transaction(write=True) as tx:
            await tx.execute(
                "UPDATE tokens SET last_used = ? WHERE token_id = ?"
                " AND (last_used IS NULL OR last_used < ?)",
                (when, token_id, unless_after),
            )

    async def find_token(self, token_hash: str) -> Token | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = ?", (token_hash,)
            )
        return token_from_row(row) if row else None

    async def get_token(self, token_id: str) -> Token:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {TOKEN_COLS} FROM tokens WHERE token_id = ?", (token_id,)
            )
        if row is None:
            raise NotFound(f"no token {token_id!r}")
        return token_from_row(row)

    async def revoke_token(self, token_id: str, when: str) -> Token:
        async with self.db.transaction(write=True) as tx:
            if not await tx.execute(
                "UPDATE tokens SET revoked = COALESCE(revoked, ?) WHERE token_id = ?",
                (when, token_id),
            ):
                raise NotFound(f"no token {token_id!r}")
        return await self.get_token(token_id)

    # --- keys ---------------------------------------------------------------------------------

    async def add_key(self, key: Key) -> None:
        async with self.db.transaction(write=True) as tx:
            if await tx.fetchone("SELECT 1 FROM keys WHERE key_id = ?", (key.key_id,)):
                raise Conflict(f"key {key.key_id} is registered already")
            await tx.execute(
                f"INSERT INTO keys ({KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.member,
                    key.identity,
                    key.public_key,
                    format_ts(key.not_before),
                    format_ts(key.not_after) if key.not_after else None,
                    format_ts(key.revoked_since) if key.revoked_since else None,
                    format_ts(key.created),
                ),
            )

    async def get_key(self, key_id: str) -> Key | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(f"SELECT {KEY_COLS} FROM keys WHERE key_id = ?", (key_id,))
        return key_from_row(row) if row else None

    async def list_keys(self, member_id: str | None = None) -> list[Key]:
        async with self.db.transaction() as tx:
            if member_id is None:
                rows = await tx.fetchall(f"SELECT {KEY_COLS} FROM keys ORDER BY created, key_id")
            else:
                rows = await tx.fetchall(
                    f"SELECT {KEY_COLS} FROM keys WHERE member = ? ORDER BY created, key_id",
                    (member_id,),
                )
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, since: str) -> Key:
        async with self.db.transaction(write=True) as tx:
            # An earlier revocation stays: revoking again can only move the moment back.
            changed = await tx.execute(
                "UPDATE keys SET revoked_since = CASE WHEN revoked_since IS NULL OR revoked_since > ?"
                " THEN ? ELSE revoked_since END WHERE key_id = ?",
                (since, since, key_id),
            )
            if not changed:
                raise NotFound(f"no key {key_id!r}")
            # Withdraw what the key signed for the revoked window, in the same transaction.
            await tx.execute(
                "UPDATE objects SET key_revoked_at = (SELECT k.revoked_since FROM keys k"
                " WHERE k.key_id = objects.key_id) WHERE key_id = ? AND version >= ?",
                (key_id, since),
            )
            rows = await tx.fetchall(
                "SELECT DISTINCT stix_id FROM objects WHERE key_id = ? AND version >= ?",
                (key_id, since),
            )
            await refresh_heads(tx, [r[0] for r in rows])
        key = await self.get_key(key_id)
        assert key is not None
        return key
