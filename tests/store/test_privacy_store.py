"""The privacy repository on both stores: sealed records are released once, when due, even by
two workers at once; a copy version is sealed once; a purge removes a version and its sealed
record and keeps its log leaf."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from exchange.errors import Conflict, NotFound
from exchange.models import NewObject, ObjectFilter, ReadQuery, SealedRecord, Tlp
from exchange.policy import ANONYMOUS
from exchange.store.base import Store
from tests.store.conftest import StoreFactory

ANON = f"identity--{uuid.uuid4()}"


def _record(version: str, release_at: str, copy_id: str | None = None) -> SealedRecord:
    copy_id = copy_id or f"indicator--{uuid.uuid4()}"
    body = json.dumps({"type": "indicator", "id": copy_id, "modified": version})
    return SealedRecord(
        sealed_id=str(uuid.uuid4()),
        copy_id=copy_id,
        copy_version=version,
        author_member="m1",
        author_identity="identity--author",
        original_id=f"indicator--{uuid.uuid4()}",
        original_version=version,
        key_id="k",
        original_body="{}",
        copy_object=NewObject(
            stix_id=copy_id,
            type="indicator",
            spec_version="2.1",
            version=version,
            version_text=version,
            created=version,
            author_identity=ANON,
            poster_member=None,
            tlp=Tlp.CLEAR,
            audience=("public",),
            ends=(),
            markings=(),
            body=body,
        ),
        submitted_at="2026-01-01T00:00:00.000000Z",
        release_at=release_at,
    )


async def _public_ids(store: Store) -> set[str]:
    page = await store.objects.read_objects(
        ANONYMOUS, ReadQuery(collection="public", filter=ObjectFilter(types=("indicator",)))
    )
    return {o.stix_id for o in page.objects}


async def test_release_once_when_due_by_two_workers(store_factory: StoreFactory) -> None:
    one, two = store_factory(), store_factory()
    await one.open()
    await two.open()
    due = [_record("2026-01-01T00:00:00.000000Z", "2026-01-01T01:00:00.000000Z") for _ in range(5)]
    later = _record("2026-01-01T00:00:00.000000Z", "2999-01-01T00:00:00.000000Z")
    await one.privacy.seal([*due, later])
    with pytest.raises(Conflict):
        await one.privacy.seal([due[0].model_copy(update={"sealed_id": str(uuid.uuid4())})])
    stamp = "2026-06-01T00:00:00.000000Z"
    results = await asyncio.gather(
        one.privacy.release_sealed(stamp, stamp), two.privacy.release_sealed(stamp, stamp)
    )
    released = [r.stix_id for batch in results for r in batch]
    assert sorted(released) == sorted(r.copy_id for r in due)  # each once, the later one not
    assert await _public_ids(one) == {r.copy_id for r in due}
    assert await one.privacy.release_sealed(stamp, stamp) == []
    records = await one.privacy.find_sealed(due[0].copy_id)
    assert [r.released_at for r in records] == [stamp]
    assert (await one.privacy.find_sealed(later.sealed_id))[0].released_at is None
    with pytest.raises(NotFound):
        await one.privacy.find_sealed("nothing")

    # purge: the version and its sealed record go, the log keeps its leaf
    size = await one.log.log_size()
    versions = {v.stix_id: v for v in await one.privacy.retained_versions()}
    done = await one.privacy.purge([versions[due[0].copy_id].seq], [later.sealed_id], [])
    assert (done.versions, done.sealed) == (1, 2)
    assert due[0].copy_id not in await _public_ids(one)
    assert await one.log.log_size() == size
    assert await one.log.log_leaf_index(due[0].copy_id, due[0].copy_version) is None
    assert {r.sealed_id for r in await one.privacy.list_sealed()} == {r.sealed_id for r in due[1:]}
    assert await one.check_integrity() == []
