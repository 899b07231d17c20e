"""The transparency log in the store contract, on both stores: a leaf for every stored object
version in the transaction that stores it (never for duplicates or conflicts), kept through
deletes; subtree nodes that agree with a recursive RFC 9162 reference; existing databases
get their leaves when the store opens; concurrent writers keep one consistent log."""

from __future__ import annotations

import asyncio
import json

import pytest

from exchange.models import InsertOutcome, NewObject
from exchange.store.base import Store
from exchange.translog.heads import Cosignature, LogKey, TreeHead
from exchange.translog.merkle import evaluate, inclusion_plan, nodes_of, root_plan
from tests.merkle_ref import jcs, ref_mth, ref_path
from tests.store.test_contract import add_members, make_member, new_object, ts


def leaf_input(obj: NewObject) -> bytes:
    return jcs(json.loads(obj.body))


async def root(store: Store, size: int) -> bytes:
    plan = root_plan(size)
    assert plan is not None
    return evaluate(plan, await store.log.log_nodes(plan.nodes()))


async def test_every_stored_version_gets_a_leaf_in_order(store: Store) -> None:
    author = make_member("logger")
    await add_members(store, author)
    assert await store.log.log_size() == 0
    objs = [new_object(author, note=f"n{i}") for i in range(5)]
    second = new_object(author, stix_id=objs[0].stix_id, version=ts(1))
    await store.objects.insert_objects(objs[:3])
    await store.objects.insert_objects([*objs[3:], second])
    stored = [*objs, second]
    assert await store.log.log_size() == 6
    for index, obj in enumerate(stored):
        assert await store.log.log_leaf_index(obj.stix_id, obj.version) == index
    inputs = [leaf_input(o) for o in stored]
    for size in range(1, 7):
        assert await root(store, size) == ref_mth(inputs[:size])
    path = [evaluate(p, await store.log.log_nodes(nodes_of([p]))) for p in inclusion_plan(4, 6)]
    assert path == ref_path(4, inputs)


async def test_duplicates_and_conflicts_append_nothing(store: Store) -> None:
    author = make_member("dup")
    await add_members(store, author)
    obj = new_object(author)
    await store.objects.insert_objects([obj])
    other = new_object(author, stix_id=obj.stix_id, note="other bytes")
    results = await store.objects.insert_objects([obj, other])
    assert [r.outcome for r in results] == [InsertOutcome.DUPLICATE, InsertOutcome.CONFLICT]
    assert await store.log.log_size() == 1
    assert await root(store, 1) == ref_mth([leaf_input(obj)])


async def test_deletes_keep_the_leaf(store: Store) -> None:
    author = make_member("deleter")
    await add_members(store, author)
    objs = [new_object(author, note=str(i)) for i in range(3)]
    await store.objects.insert_objects(objs)
    before = await root(store, 3)
    assert await store.objects.delete_objects(objs[1].stix_id, None, ts(5)) == 1
    assert await store.log.log_size() == 3
    assert await store.log.log_leaf_index(objs[1].stix_id, objs[1].version) == 1
    assert await root(store, 3) == before


async def test_a_body_that_cannot_be_logged_stores_nothing(store: Store) -> None:
    author = make_member("broken")
    await add_members(store, author)
    good = new_object(author)
    bad = new_object(author).model_copy(update={"body": "{not json"})
    with pytest.raises(ValueError):
        await store.objects.insert_objects([good, bad])
    assert await store.log.log_size() == 0
    assert await store.objects.count_objects() == (0, 0)


async def test_existing_databases_get_leaves_when_opened(store_factory) -> None:  # type: ignore[no-untyped-def]
    first = store_factory()
    await first.open()
    author = make_member("old")
    await add_members(first, author)
    objs = [new_object(author, note=str(i)) for i in range(11)]
    await first.objects.insert_objects(objs)
    expected = await root(first, 11)
    # Make it a database without migration 0006: no log tables, 0006 not applied.
    async with first.transaction(write=True) as tx:  # type: ignore[attr-defined]
        for table in (
            "log_witness_cosignatures",
            "log_witness_state",
            "log_cosignatures",
            "log_heads",
            "log_keys",
            "log_nodes",
            "log_leaves",
        ):
            await tx.execute(f"DROP TABLE {table}")
        await tx.execute("DELETE FROM schema_version WHERE version = 6")
    await first.close()
    again = store_factory()
    await again.open()
    assert await again.log.log_size() == 11
    assert await root(again, 11) == expected == ref_mth([leaf_input(o) for o in objs])
    # and appending goes on from there
    more = new_object(author, note="after")
    await again.objects.insert_objects([more])
    assert await root(again, 12) == ref_mth([leaf_input(o) for o in [*objs, more]])


async def test_concurrent_writers_keep_one_log(store_factory) -> None:  # type: ignore[no-untyped-def]
    """Two store instances (two workers) ingesting at once: every object exactly one leaf,
    leaf order is storage order, and the tree is the reference tree over that order."""
    a, b = store_factory(), store_factory()
    await a.open()
    await b.open()
    author = make_member("racer")
    await add_members(a, author)
    batches = [
        [new_object(author, note=f"{w}-{i}-{j}") for j in range(3)]
        for w in range(2)
        for i in range(8)
    ]

    async def run(store: Store, mine: list[list[NewObject]]) -> None:
        for batch in mine:
            await store.objects.insert_objects(batch)

    await asyncio.gather(run(a, batches[::2]), run(b, batches[1::2]))
    everything = [o for batch in batches for o in batch]
    size = await a.log.log_size()
    assert size == len(everything)
    by_index = {}
    for obj in everything:
        index = await b.log.log_leaf_index(obj.stix_id, obj.version)
        assert index is not None
        by_index[index] = obj
    assert sorted(by_index) == list(range(size))
    ordered = [by_index[i] for i in range(size)]
    assert await root(b, size) == ref_mth([leaf_input(o) for o in ordered])


async def test_log_keys_heads_and_cosignatures(store: Store) -> None:
    assert await store.log.log_keys() == []
    k1 = LogKey(key_id="k1", public_key="pem1", private_key=b"secret1", created=ts(0))
    await store.log.add_log_key(k1, retire_at=None)
    k2 = LogKey(key_id="k2", public_key="pem2", private_key=b"secret2", created=ts(1))
    await store.log.add_log_key(k2, retire_at=ts(1))
    keys = await store.log.log_keys()
    assert [(k.key_id, k.not_after) for k in keys] == [("k2", None), ("k1", ts(1))]
    assert keys[0].private_key == b"secret2"
    assert "secret" not in repr(keys[0])
    h1 = TreeHead(tree_size=3, root_hash="aa", timestamp=ts(2), key_id="k1", signature="s1")
    h2 = TreeHead(tree_size=3, root_hash="aa", timestamp=ts(3), key_id="k2", signature="s2")
    await store.log.save_log_head(h1)
    await store.log.save_log_head(h1.__class__(**{**h1.signed_part(), "signature": "other"}))
    await store.log.save_log_head(h2)
    assert await store.log.log_head() == h2
    assert [h.key_id for h in await store.log.log_heads_of_size(3)] == ["k2", "k1"]
    cosig = Cosignature(member="m1", key_id="mk", signature="sig")
    await store.log.add_log_cosignature(h1, cosig, ts(4))
    assert (await store.log.log_head(3)).cosignatures == ()  # type: ignore[union-attr]
    await store.log.add_log_cosignature(h2, cosig, ts(4))
    assert (await store.log.log_head(3)).cosignatures == (cosig,)  # type: ignore[union-attr]
    assert await store.log.log_head(99) is None
