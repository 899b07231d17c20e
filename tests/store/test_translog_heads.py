"""Signed tree heads with several workers on one database (both stores): workers ingesting
and signing heads at once agree on one log; every head verifies with the log key and has
the reference root of its size; rotation keeps old heads verifiable."""

from __future__ import annotations

import asyncio
import contextlib
import json

from exchange.crypto import VerifyKey, verify_json
from exchange.services.read import ReadService
from exchange.services.translog import LogService
from exchange.store.base import Store
from exchange.taxii.cursor import Cursors
from tests.merkle_ref import jcs, ref_mth
from tests.store.test_contract import add_members, make_member, new_object


def log_service(store: Store) -> LogService:
    read = ReadService(store, Cursors(b"k" * 32), 100, 1000)
    return LogService(store, read, head_seconds=0.05)


async def test_workers_sign_one_consistent_history(store_factory) -> None:  # type: ignore[no-untyped-def]
    stores = [store_factory(), store_factory()]
    for s in stores:
        await s.open()
    logs = [log_service(s) for s in stores]
    keys = await asyncio.gather(*(log.ensure_key() for log in logs))
    assert keys[0].key_id == keys[1].key_id  # one log key, whichever worker came first
    author = make_member("worker")
    await add_members(stores[0], author)
    inserted: list = []

    async def ingest(store: Store, tag: str) -> None:
        for i in range(6):
            batch = [new_object(author, note=f"{tag}{i}{j}") for j in range(4)]
            await store.objects.insert_objects(batch)
            inserted.extend(batch)
            await asyncio.sleep(0.01)

    for log in logs:
        log.start()
    try:
        await asyncio.gather(ingest(stores[0], "a"), ingest(stores[1], "b"))
        await asyncio.sleep(0.3)
    finally:
        for log in logs:
            await log.stop()
    size = await stores[0].log.log_size()
    assert size == len(inserted)
    order = {}
    for obj in inserted:
        order[await stores[1].log.log_leaf_index(obj.stix_id, obj.version)] = obj
    leaves = [jcs(json.loads(order[i].body)) for i in range(size)]
    public = VerifyKey.from_pem(keys[0].public_key)
    latest = await stores[1].log.log_head()
    assert latest is not None and latest.tree_size == size  # heads followed ingest
    for n in range(1, size + 1):
        for head in await stores[0].log.log_heads_of_size(n):
            assert head.root_hash == ref_mth(leaves[:n]).hex()
            assert verify_json(public, head.signed_part(), head.signature)
    for s in stores:
        await s.close()


async def test_rotation_signs_the_current_tree_with_the_new_key(store: Store) -> None:
    log = log_service(store)
    old = await log.ensure_key()
    author = make_member("rot")
    await add_members(store, author)
    await store.objects.insert_objects([new_object(author)])
    first = await log.head()
    assert first.key_id == old.key_id and first.tree_size == 1
    fresh, retired = await log.rotate()
    assert retired.key_id == old.key_id != fresh.key_id
    second = await log.head()
    assert (second.key_id, second.root_hash) == (fresh.key_id, first.root_hash)
    history = await log.key_history()
    assert [k.key_id for k in history] == [fresh.key_id, old.key_id]
    assert history[1].not_after is not None and history[0].not_after is None
    assert verify_json(
        VerifyKey.from_pem(history[1].public_key), first.signed_part(), first.signature
    )
    assert await log.head() == second  # nothing new to sign


async def test_cancelled_transactions_leave_connections_clean(store: Store) -> None:
    """Periodic tasks are cancelled at shutdown wherever they are: a read or a write cancelled
    at any point (BEGIN included) must not leave a pooled connection inside a transaction."""
    author = make_member("cancelled")
    await add_members(store, author)
    for i in range(300):
        job = (
            store.log.log_size()
            if i % 3
            else store.objects.insert_objects([new_object(author, note=f"c{i}")])
        )
        task = asyncio.ensure_future(job)
        for _ in range(i % 7):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for _ in range(10):  # every pooled connection answers, and writes still go through
        await asyncio.gather(*(store.log.log_size() for _ in range(8)))
    await store.objects.insert_objects([new_object(author, note="after")])
    assert await store.log.log_size() == (await store.objects.count_objects())[0]
