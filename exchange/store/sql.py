"""The Store, written once over a minimal SQL driver interface.

SQLite and PostgreSQL differ only in how they connect, lock and number
parameters (``exchange.store.sqlite``, ``exchange.store.postgres``); every query
of the exchange lives here and in ``exchange.store.query``, so both stores
answer the contract suite identically.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from exchange.errors import Conflict, InvalidInput, NotFound
from exchange.models import (
    Delivery,
    Group,
    InsertOutcome,
    InsertResult,
    Key,
    Member,
    MemberKind,
    MemberStatus,
    NewObject,
    Page,
    Principal,
    ReadQuery,
    RuleDirection,
    RuleEffect,
    StandingRule,
    Status,
    StoredObject,
    Tlp,
    Token,
    TokenScope,
)
from exchange.policy import ObjectFacts
from exchange.store.query import build_read
from exchange.timeutil import format_ts, now, parse_ts

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel

Row = Sequence[Any]


class Tx(Protocol):
    async def execute(self, sql: str, params: Sequence[object] = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...
    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...


def _ts(value: str | None) -> Any:
    return parse_ts(value) if value else None


def _member(row: Row) -> Member:
    return Member(
        id=row[0],
        identity=row[1],
        name=row[2],
        kind=MemberKind(row[3]),
        sector=row[4],
        economy=row[5],
        status=MemberStatus(row[6]),
        created=parse_ts(row[7]),
    )


def _token(row: Row) -> Token:
    return Token(
        token_id=row[0],
        member=row[1],
        token_hash=row[2],
        scope=TokenScope(row[3]),
        created=parse_ts(row[4]),
        expires=_ts(row[5]),
        revoked=_ts(row[6]),
    )


def _key(row: Row) -> Key:
    return Key(
        key_id=row[0],
        member=row[1],
        identity=row[2],
        public_key=row[3],
        not_before=parse_ts(row[4]),
        not_after=_ts(row[5]),
        revoked_since=_ts(row[6]),
        created=parse_ts(row[7]),
    )


def _stored(row: Row) -> StoredObject:
    return StoredObject(
        seq=int(row[0]),
        stix_id=row[1],
        type=row[2],
        spec_version=row[3],
        version=row[4],
        date_added=row[5],
        author_identity=row[6],
        tlp=Tlp(row[7]) if row[7] else None,
        body=row[8] or "",
    )


MEMBER_COLS = "id, identity, name, kind, sector, economy, status, created"
TOKEN_COLS = "token_id, member, token_hash, scope, created, expires, revoked"
KEY_COLS = "key_id, member, identity, public_key, not_before, not_after, revoked_since, created"


class SqlStore(ABC):
    """Every Store method, over ``transaction()``; subclasses supply the driver."""

    url: str
    dialect: str

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

    # --- members ------------------------------------------------------------------------------

    async def add_member(self, member: Member) -> None:
        async with self.transaction(write=True) as tx:
            if await tx.fetchone("SELECT 1 FROM members WHERE name = ?", (member.name,)):
                raise Conflict(f"a member named {member.name!r} exists already")
            await tx.execute(
                f"INSERT INTO members ({MEMBER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    member.id,
                    member.identity,
                    member.name,
                    member.kind.value,
                    member.sector,
                    member.economy,
                    member.status.value,
                    format_ts(member.created),
                ),
            )

    async def get_member(self, member_id: str) -> Member:
        async with self.transaction() as tx:
            row = await tx.fetchone(f"SELECT {MEMBER_COLS} FROM members WHERE id = ?", (member_id,))
        if row is None:
            raise NotFound(f"no member {member_id!r}")
        return _member(row)

    async def get_member_by_identity(self, identity: str) -> Member | None:
        async with self.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {MEMBER_COLS} FROM members WHERE identity = ?", (identity,)
            )
        return _member(row) if row else None

    async def list_members(self) -> list[Member]:
        async with self.transaction() as tx:
            rows = await tx.fetchall(f"SELECT {MEMBER_COLS} FROM members ORDER BY created, id")
        return [_member(r) for r in rows]

    async def set_member_status(self, member_id: str, status: MemberStatus) -> Member:
        async with self.transaction(write=True) as tx:
            if not await tx.execute(
                "UPDATE members SET status = ? WHERE id = ?", (status.value, member_id)
            ):
                raise NotFound(f"no member {member_id!r}")
        return await self.get_member(member_id)

    # --- tokens -------------------------------------------------------------------------------

    async def add_token(self, token: Token) -> None:
        async with self.transaction(write=True) as tx:
            await tx.execute(
                f"INSERT INTO tokens ({TOKEN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token.token_id,
                    token.member,
                    token.token_hash,
                    token.scope.value,
                    format_ts(token.created),
                    format_ts(token.expires) if token.expires else None,
                    None,
                ),
            )

    async def find_token(self, token_hash: str) -> Token | None:
        async with self.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = ?", (token_hash,)
            )
        return _token(row) if row else None

    async def get_token(self, token_id: str) -> Token:
        async with self.transaction() as tx:
            row = await tx.fetchone(f"SELECT {TOKEN_COLS} FROM tokens WHERE token_id = ?", (token_id,))
        if row is None:
            raise NotFound(f"no token {token_id!r}")
        return _token(row)

    async def revoke_token(self, token_id: str, when: str) -> Token:
        async with self.transaction(write=True) as tx:
            if not await tx.execute(
                "UPDATE tokens SET revoked = COALESCE(revoked, ?) WHERE token_id = ?",
                (when, token_id),
            ):
                raise NotFound(f"no token {token_id!r}")
        return await self.get_token(token_id)

    # --- keys ---------------------------------------------------------------------------------

    async def add_key(self, key: Key) -> None:
        async with self.transaction(write=True) as tx:
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
        async with self.transaction() as tx:
            row = await tx.fetchone(f"SELECT {KEY_COLS} FROM keys WHERE key_id = ?", (key_id,))
        return _key(row) if row else None

    async def list_keys(self, member_id: str | None = None) -> list[Key]:
        async with self.transaction() as tx:
            if member_id is None:
                rows = await tx.fetchall(f"SELECT {KEY_COLS} FROM keys ORDER BY created, key_id")
            else:
                rows = await tx.fetchall(
                    f"SELECT {KEY_COLS} FROM keys WHERE member = ? ORDER BY created, key_id",
                    (member_id,),
                )
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, since: str) -> Key:
        async with self.transaction(write=True) as tx:
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

    # --- groups -------------------------------------------------------------------------------

    async def create_group(self, name: str, created: str) -> None:
        async with self.transaction(write=True) as tx:
            if await tx.fetchone("SELECT 1 FROM sharing_groups WHERE name = ?", (name,)):
                raise Conflict(f"group {name!r} exists already")
            await tx.execute(
                "INSERT INTO sharing_groups (name, created) VALUES (?, ?)", (name, created)
            )

    async def add_group_member(self, name: str, member_id: str) -> Group:
        async with self.transaction(write=True) as tx:
            if not await tx.fetchone("SELECT 1 FROM sharing_groups WHERE name = ?", (name,)):
                raise NotFound(f"no group {name!r}")
            if not await tx.fetchone("SELECT 1 FROM members WHERE id = ?", (member_id,)):
                raise NotFound(f"no member {member_id!r}")
            await tx.execute(
                "INSERT INTO group_members (group_name, member) VALUES (?, ?)"
                " ON CONFLICT (group_name, member) DO NOTHING",
                (name, member_id),
            )
        return await self.get_group(name)

    async def get_group(self, name: str) -> Group:
        async with self.transaction() as tx:
            if not await tx.fetchone("SELECT 1 FROM sharing_groups WHERE name = ?", (name,)):
                raise NotFound(f"no group {name!r}")
            rows = await tx.fetchall(
                "SELECT member FROM group_members WHERE group_name = ? ORDER BY member", (name,)
            )
        return Group(name=name, members=tuple(r[0] for r in rows))

    async def list_groups(self) -> list[Group]:
        async with self.transaction() as tx:
            names = await tx.fetchall("SELECT name FROM sharing_groups ORDER BY name")
            rows = await tx.fetchall("SELECT group_name, member FROM group_members ORDER BY member")
        members: dict[str, list[str]] = {n[0]: [] for n in names}
        for g, m in rows:
            members.setdefault(g, []).append(m)
        return [Group(name=n, members=tuple(ms)) for n, ms in members.items()]

    async def groups_of(self, member_id: str) -> list[str]:
        async with self.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT group_name FROM group_members WHERE member = ? ORDER BY group_name",
                (member_id,),
            )
        return [r[0] for r in rows]

    # --- standing rules -----------------------------------------------------------------------

    async def add_rule(self, rule: StandingRule, identity: str) -> None:
        async with self.transaction(write=True) as tx:
            await tx.execute(
                "INSERT INTO rules (rule_id, member, identity, direction, effect, field, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.rule_id,
                    rule.member,
                    identity,
                    rule.direction.value,
                    rule.effect.value,
                    rule.field,
                    format_ts(rule.created),
                ),
            )
            await tx.executemany(
                "INSERT INTO rule_values (rule_id, value) VALUES (?, ?)",
                [(rule.rule_id, v) for v in dict.fromkeys(rule.values)],
            )

    async def list_rules(self, member_id: str | None = None) -> list[StandingRule]:
        where, params = ("WHERE r.member = ?", (member_id,)) if member_id else ("", ())
        async with self.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT r.rule_id, r.member, r.direction, r.effect, r.field, r.created, rv.value"
                f" FROM rules r JOIN rule_values rv ON rv.rule_id = r.rule_id {where}"
                " ORDER BY r.created, r.rule_id, rv.value",
                params,
            )
        rules: dict[str, dict[str, Any]] = {}
        for rule_id, member, direction, effect, fld, created, value in rows:
            entry = rules.setdefault(
                rule_id,
                {
                    "rule_id": rule_id,
                    "member": member,
                    "direction": RuleDirection(direction),
                    "effect": RuleEffect(effect),
                    "field": fld,
                    "created": parse_ts(created),
                    "values": [],
                },
            )
            entry["values"].append(value)
        return [StandingRule(**{**r, "values": tuple(r["values"])}) for r in rules.values()]

    async def delete_rule(self, rule_id: str) -> None:
        async with self.transaction(write=True) as tx:
            await tx.execute("DELETE FROM rule_values WHERE rule_id = ?", (rule_id,))
            if not await tx.execute("DELETE FROM rules WHERE rule_id = ?", (rule_id,)):
                raise NotFound(f"no rule {rule_id!r}")

    # --- objects ------------------------------------------------------------------------------

    async def insert_objects(
        self,
        objects: Sequence[NewObject],
        status: Callable[[list[InsertResult]], Status] | None = None,
    ) -> list[InsertResult]:
        results: list[InsertResult] = []
        if not objects and status is None:
            return results
        async with self.transaction(write=True) as tx:
            if objects:
                await self._insert(tx, objects, results)
            if status is not None:
                # The status resource in the same transaction: both commit or neither does.
                await self._save_status(tx, status(list(results)))
        return results

    async def _insert(
        self, tx: Tx, objects: Sequence[NewObject], results: list[InsertResult]
    ) -> None:
        await self.lock_ingest(tx)
        clock = await tx.fetchone("SELECT last_date_added, last_seq FROM clock WHERE id = 1")
        assert clock is not None
        last = parse_ts(clock[0])
        seq = int(clock[1])
        for obj in objects:
            version = obj.version
            if version:
                existing = await tx.fetchone(
                    "SELECT body, deleted_at FROM objects WHERE stix_id = ? AND version = ?",
                    (obj.stix_id, version),
                )
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
            await tx.execute(
                "INSERT INTO objects (seq, stix_id, type, spec_version, version, created,"
                " date_added, author_identity, poster_member, tlp, key_id, body,"
                " key_revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " (SELECT k.revoked_since FROM keys k WHERE k.key_id = ?"
                " AND k.revoked_since <= ?))",
                (
                    seq,
                    obj.stix_id,
                    obj.type,
                    obj.spec_version,
                    version,
                    obj.created,
                    date_added,
                    obj.author_identity,
                    obj.poster_member,
                    obj.tlp.value if obj.tlp else None,
                    obj.key_id,
                    obj.body,
                    obj.key_id,
                    version,
                ),
            )
            if obj.audience:
                await tx.executemany(
                    "INSERT INTO object_audience (seq, principal) VALUES (?, ?)",
                    [(seq, p) for p in dict.fromkeys(obj.audience)],
                )
            if obj.ends:
                await tx.executemany(
                    "INSERT INTO object_ends (seq, ref_id) VALUES (?, ?)",
                    [(seq, r) for r in dict.fromkeys(obj.ends)],
                )
            if obj.markings:
                await tx.executemany(
                    "INSERT INTO object_markings (seq, marking_id) VALUES (?, ?)",
                    [(seq, m) for m in dict.fromkeys(obj.markings)],
                )
                if obj.author_identity is not None:
                    await tx.executemany(
                        "INSERT INTO marking_users (marking_id, author_identity)"
                        " VALUES (?, ?) ON CONFLICT (marking_id, author_identity) DO NOTHING",
                        [(m, obj.author_identity) for m in dict.fromkeys(obj.markings)],
                    )
            if obj.type == "marking-definition" and obj.audience_entries is not None:
                await tx.execute(
                    "INSERT INTO audience_markings (marking_id, author_identity, entries)"
                    " VALUES (?, ?, ?) ON CONFLICT (marking_id) DO NOTHING",
                    (obj.stix_id, obj.author_identity, json.dumps(list(obj.audience_entries))),
                )
                await tx.executemany(
                    "INSERT INTO marking_audience (marking_id, principal) VALUES (?, ?)"
                    " ON CONFLICT (marking_id, principal) DO NOTHING",
                    [(obj.stix_id, p) for p in dict.fromkeys(obj.audience_entries)],
                )
            results.append(
                InsertResult(
                    stix_id=obj.stix_id,
                    version=version,
                    outcome=InsertOutcome.INSERTED,
                    date_added=date_added,
                    seq=seq,
                )
            )
        await tx.execute(
            "UPDATE clock SET last_date_added = ?, last_seq = ? WHERE id = 1",
            (format_ts(last), seq),
        )
        await refresh_heads(
            tx, [r.stix_id for r in results if r.outcome is InsertOutcome.INSERTED]
        )

    async def lock_ingest(self, tx: Tx) -> None:
        """Serialise ingest across processes; SQLite's write lock already does."""

    async def read_objects(
        self, reader: Principal, query: ReadQuery, with_body: bool = True
    ) -> Page:
        if query.limit < 1:
            raise InvalidInput("limit must be at least 1")
        sql = build_read(reader, query, with_body)
        async with self.transaction() as tx:
            rows = await tx.fetchall(sql.text, sql.params)
        more = len(rows) > query.limit
        return Page(objects=tuple(_stored(r) for r in rows[: query.limit]), more=more)

    async def object_authors(self, stix_ids: Sequence[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        ids = list(dict.fromkeys(stix_ids))
        async with self.transaction() as tx:
            for chunk in _chunks(ids, 500):
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
        async with self.transaction() as tx:
            for chunk in _chunks(ids, 500):
                rows = await tx.fetchall(
                    "SELECT marking_id, author_identity, entries FROM audience_markings"
                    " WHERE marking_id IN (" + ", ".join("?" for _ in chunk) + ")",
                    chunk,
                )
                for mid, author, entries in rows:
                    out[mid] = (mid, author, tuple(json.loads(entries)))
        return out

    async def object_facts(self, stix_id: str) -> list[ObjectFacts]:
        async with self.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT o.seq, o.type, o.tlp, o.author_identity, m.sector, o.deleted_at, o.version"
                " FROM objects o LEFT JOIN members m ON m.identity = o.author_identity"
                " WHERE o.stix_id = ? ORDER BY o.version",
                (stix_id,),
            )
            facts = []
            for seq, typ, tlp, author, sector, deleted, version in rows:
                aud = await tx.fetchall(
                    "SELECT principal FROM object_audience WHERE seq = ? ORDER BY principal", (seq,)
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
                    )
                )
        return facts

    async def delete_objects(self, stix_id: str, versions: Sequence[str] | None, when: str) -> int:
        async with self.transaction(write=True) as tx:
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

    def notification_channel(self, name: str) -> PgChannel | None:
        return None

    async def count_objects(self) -> tuple[int, int]:
        """(live, withdrawn) object versions; withdrawn: deleted or signed by a revoked key."""
        async with self.transaction() as tx:
            row = await tx.fetchone(
                "SELECT COUNT(*), COUNT(CASE WHEN deleted_at IS NOT NULL"
                " OR key_revoked_at IS NOT NULL THEN 1 END) FROM objects"
            )
        total, withdrawn = (int(row[0]), int(row[1])) if row else (0, 0)
        return total - withdrawn, withdrawn

    async def latest_seq(self) -> int:
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT last_seq FROM clock WHERE id = 1")
        return int(row[0]) if row else 0

    # --- statuses -----------------------------------------------------------------------------

    async def save_status(self, status: Status) -> None:
        async with self.transaction(write=True) as tx:
            await self._save_status(tx, status)

    async def _save_status(self, tx: Tx, status: Status) -> None:
        await tx.execute(
            "INSERT INTO statuses (id, member, created, body) VALUES (?, ?, ?, ?)",
            (status.id, status.member, status.request_timestamp, status.model_dump_json()),
        )

    async def get_status(self, status_id: str) -> Status | None:
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT body FROM statuses WHERE id = ?", (status_id,))
        return Status.model_validate_json(row[0]) if row else None

    async def expire_statuses(self, before: str) -> int:
        async with self.transaction(write=True) as tx:
            return await tx.execute("DELETE FROM statuses WHERE created < ?", (before,))

    # --- rate limits --------------------------------------------------------------------------

    async def add_rate_counts(self, window_start: int, counts: dict[str, int]) -> dict[str, int]:
        """Add request counts for one window; return every caller's total in it."""
        async with self.transaction(write=True) as tx:
            if counts:
                await tx.executemany(
                    "INSERT INTO rate_counts (caller, window_start, requests) VALUES (?, ?, ?)"
                    " ON CONFLICT (caller, window_start)"
                    " DO UPDATE SET requests = rate_counts.requests + excluded.requests",
                    [(caller, window_start, n) for caller, n in counts.items()],
                )
            rows = await tx.fetchall(
                "SELECT caller, requests FROM rate_counts WHERE window_start = ?", (window_start,)
            )
            await tx.execute("DELETE FROM rate_counts WHERE window_start < ?", (window_start - 1,))
        return {r[0]: int(r[1]) for r in rows}

    # --- deliveries ---------------------------------------------------------------------------

    async def record_deliveries(
        self, member_id: str, objects: Sequence[StoredObject], when: str
    ) -> None:
        if not objects:
            return
        async with self.transaction(write=True) as tx:
            await tx.executemany(
                "INSERT INTO deliveries (member, stix_id, version, delivered) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (stix_id, version, member) DO NOTHING",
                [(member_id, o.stix_id, o.version, when) for o in objects],
            )

    async def list_deliveries(self, stix_id: str) -> list[Delivery]:
        async with self.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT member, stix_id, version, delivered FROM deliveries WHERE stix_id = ?"
                " ORDER BY delivered, member, version",
                (stix_id,),
            )
        return [Delivery(member=r[0], stix_id=r[1], version=r[2], delivered=r[3]) for r in rows]


async def refresh_heads(tx: Tx, stix_ids: Sequence[str]) -> None:
    """Point ``object_heads`` at each object's latest live version (none when every version
    is withdrawn), in the caller's transaction."""
    for stix_id in dict.fromkeys(stix_ids):
        await tx.execute("DELETE FROM object_heads WHERE stix_id = ?", (stix_id,))
        await tx.execute(
            "INSERT INTO object_heads (stix_id, head_seq) SELECT stix_id, seq FROM objects"
            " WHERE stix_id = ? AND deleted_at IS NULL AND key_revoked_at IS NULL"
            " ORDER BY version DESC LIMIT 1",
            (stix_id,),
        )


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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
