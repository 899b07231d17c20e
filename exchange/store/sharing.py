"""Sharing groups and standing rules.

The ``sharing`` repository: each method a transaction of its own over ``SqlStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exchange.errors import Conflict, NotFound
from exchange.models import (
    Group,
    RuleDirection,
    RuleEffect,
    StandingRule,
)
from exchange.timeutil import format_ts, parse_ts

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore


class SqlSharing:
    """Sharing groups and standing rules."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- groups -------------------------------------------------------------------------------

    async def create_group(self, name: str, created: str) -> None:
        async with self.db.transaction(write=True) as tx:
            if await tx.fetchone("SELECT 1 FROM sharing_groups WHERE name = ?", (name,)):
                raise Conflict(f"group {name!r} exists already")
            await tx.execute(
                "INSERT INTO sharing_groups (name, created) VALUES (?, ?)", (name, created)
            )

    async def add_group_member(self, name: str, member_id: str) -> Group:
        async with self.db.transaction(write=True) as tx:
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
        async with self.db.transaction() as tx:
            if not await tx.fetchone("SELECT 1 FROM sharing_groups WHERE name = ?", (name,)):
                raise NotFound(f"no group {name!r}")
            rows = await tx.fetchall(
                "SELECT member FROM group_members WHERE group_name = ? ORDER BY member", (name,)
            )
        return Group(name=name, members=tuple(r[0] for r in rows))

    async def list_groups(self) -> list[Group]:
        async with self.db.transaction() as tx:
            names = await tx.fetchall("SELECT name FROM sharing_groups ORDER BY name")
            rows = await tx.fetchall("SELECT group_name, member FROM group_members ORDER BY member")
        members: dict[str, list[str]] = {n[0]: [] for n in names}
        for g, m in rows:
            members.setdefault(g, []).append(m)
        return [Group(name=n, members=tuple(ms)) for n, ms in members.items()]

    async def groups_of(self, member_id: str) -> list[str]:
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT group_name FROM group_members WHERE member = ? ORDER BY group_name",
                (member_id,),
            )
        return [r[0] for r in rows]

    # --- standing rules -----------------------------------------------------------------------

    async def add_rule(self, rule: StandingRule, identity: str) -> None:
        async with self.db.transaction(write=True) as tx:
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
        async with self.db.transaction() as tx:
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
        async with self.db.transaction(write=True) as tx:
            await tx.execute("DELETE FROM rule_values WHERE rule_id = ?", (rule_id,))
            if not await tx.execute("DELETE FROM rules WHERE rule_id = ?", (rule_id,)):
                raise NotFound(f"no rule {rule_id!r}")
