"""The read query's plans on both stores: an ordered walk of the primary key that stops at the
page's LIMIT, with the sharing rules as index probes per row. Never a scan of every object, a
hash join over the table, or a sort of everything readable (which is what a join to the
objects' latest versions once produced on PostgreSQL: the first page grew with the store).
"""

from __future__ import annotations

import pytest

from exchange.models import ObjectFilter, Principal, ReadQuery, Tlp
from exchange.policy import ANONYMOUS
from exchange.store.base import Store
from exchange.store.query import build_read
from exchange.store.sql import SqlStore
from tests.store.test_contract import (
    add_members,
    as_reader,
    audience_marking,
    insert,
    make_member,
    new_object,
    ts,
)


async def plan_of(store: Store, reader: Principal, query: ReadQuery) -> str:
    assert isinstance(store, SqlStore)
    sql = build_read(reader, query, with_body=True)
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    async with store.transaction() as tx:
        rows = await tx.fetchall(explain + sql.text, sql.params)
    if store.dialect == "sqlite":
        return "\n".join(f"{r[0]} {r[1]} {r[3]}" for r in rows)
    return "\n".join(str(r[0]) for r in rows)


@pytest.mark.parametrize("versions", ["last", "all", "first"])
async def test_pages_walk_the_primary_key_in_order(store: Store, versions: str) -> None:
    pub, reader = make_member("Publisher"), make_member("Reader", sector="energy")
    await add_members(store, pub, reader)
    marking = audience_marking(pub, ["sector:energy"])
    objects = [marking]
    for i in range(1500):
        if i % 3 == 0:
            objects.append(
                new_object(
                    pub,
                    tlp=Tlp.AMBER,
                    audience=("sector:energy",),
                    extra_markings=(marking.stix_id,),
                )
            )
        else:
            objects.append(new_object(pub, tlp=Tlp.GREEN if i % 2 else Tlp.CLEAR))
    # some objects with several versions
    for obj in objects[1:200]:
        objects.append(new_object(pub, stix_id=obj.stix_id, version=ts(5)))
    await insert(store, *objects)
    assert isinstance(store, SqlStore)
    if store.dialect == "postgres":
        async with store.transaction(write=True) as tx:
            await tx.execute("ANALYZE")

    flt = ObjectFilter(versions=(versions,))
    for who in (as_reader(reader), ANONYMOUS, as_reader(make_member("Other", sector="health"))):
        for collection in ("bulletins", "public"):
            query = ReadQuery(collection=collection, filter=flt, after_seq=100, limit=100)
            plan = await plan_of(store, who, query)
            top = plan.splitlines()
            if store.dialect == "sqlite":
                # the outer loop: objects o searched by rowid range, in rowid order
                assert any(
                    "SEARCH o USING INTEGER PRIMARY KEY (rowid>?)" in line for line in top
                ), plan
                assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
                assert not any(line.endswith("SCAN o") for line in top), plan
            else:
                assert "Index Scan using objects_pkey on objects o " in plan, plan
                head = "\n".join(top[:3])
                assert "Sort" not in head and "Hash Join" not in head, plan
                assert "Seq Scan on objects o " not in plan, plan
