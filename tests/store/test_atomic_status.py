"""Store contract: objects and the status resource that reports them commit in one transaction,
or (when anything fails between the two) neither does. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from exchange.models import InsertOutcome, InsertResult, Status, StatusSuccess
from exchange.store.base import Store
from tests.store.test_contract import add_members, make_member, new_object, ts


def status_for(results: list[InsertResult], status_id: str | None = None) -> Status:
    return Status(
        id=status_id or str(uuid.uuid4()),
        member="mem-alice",
        status="complete",
        request_timestamp=ts(0),
        total_count=len(results),
        success_count=len(results),
        successes=tuple(StatusSuccess(id=r.stix_id, version=r.version) for r in results),
        failure_count=0,
    )


async def test_objects_and_status_commit_together(store: Store) -> None:
    alice = make_member("Alice")
    await add_members(store, alice)
    objects = [new_object(alice) for _ in range(3)]
    made: list[Status] = []

    def build(results: list[InsertResult]) -> Status:
        made.append(status_for(results))
        return made[-1]

    results = await store.objects.insert_objects(objects, status=build)
    assert [r.outcome for r in results] == [InsertOutcome.INSERTED] * 3
    assert await store.statuses.get_status(made[0].id) == made[0]
    assert await store.objects.count_objects() == (3, 0)
    # a status with nothing to insert is saved too
    empty = status_for([])
    assert await store.objects.insert_objects([], status=lambda _: empty) == []
    assert await store.statuses.get_status(empty.id) == empty


async def test_a_failure_building_the_status_stores_no_object(store: Store) -> None:
    alice = make_member("Alice")
    await add_members(store, alice)
    seq = await store.objects.latest_seq()

    def fail(results: list[InsertResult]) -> Status:
        assert len(results) == 2  # the objects were inserted in this transaction…
        raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        await store.objects.insert_objects([new_object(alice), new_object(alice)], status=fail)
    # …and rolled back with it
    assert await store.objects.count_objects() == (0, 0)
    assert await store.objects.latest_seq() == seq
    # the store is still usable, and the same objects go in afterwards
    kept = [new_object(alice)]
    assert (await store.objects.insert_objects(kept))[0].outcome is InsertOutcome.INSERTED
    assert await store.objects.count_objects() == (1, 0)


async def test_a_status_that_cannot_be_saved_stores_no_object(store: Store) -> None:
    alice = make_member("Alice")
    await add_members(store, alice)
    first = status_for([])
    await store.statuses.save_status(first)
    objects = [new_object(alice)]
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error for a duplicate key
        await store.objects.insert_objects(objects, status=lambda r: status_for(r, first.id))
    assert await store.objects.count_objects() == (0, 0)
    assert await store.statuses.get_status(first.id) == first
