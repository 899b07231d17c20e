"""Versions as written: the store keeps each version's ``modified`` (else ``created``) text
beside its normalised form, on both stores, and migration 0005 fills it in from the stored
bodies of a database made before it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from exchange import policy
from exchange.models import NewObject, ObjectFilter, ReadQuery, Tlp
from exchange.policy import ANONYMOUS, TLP_MARKING_IDS
from exchange.store.base import Store
from exchange.timeutil import normalise_ts
from tests.store.conftest import StoreFactory


def _object(version_text: str | None, stix_id: str | None = None) -> NewObject:
    sid = stix_id or f"indicator--{uuid.uuid4()}"
    body: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": sid}
    if version_text is not None:
        body["created"] = version_text
        body["modified"] = version_text
    body["object_marking_refs"] = [TLP_MARKING_IDS[Tlp.CLEAR]]
    return NewObject(
        stix_id=sid,
        type="indicator",
        spec_version="2.1",
        version=normalise_ts(version_text) if version_text else "",
        version_text=version_text,
        created=None,
        author_identity=None,
        poster_member=None,
        tlp=Tlp.CLEAR,
        audience=policy.object_audience(Tlp.CLEAR, None),
        ends=(),
        markings=(TLP_MARKING_IDS[Tlp.CLEAR],),
        body=json.dumps(body),
    )


async def _read(store: Store, with_body: bool, **flt: Any) -> dict[str, tuple[str, str]]:
    page = await store.objects.read_objects(
        ANONYMOUS,
        ReadQuery(collection="public", filter=ObjectFilter(versions=("all",), **flt)),
        with_body=with_body,
    )
    return {f"{o.stix_id}@{o.version}": (o.version_as_written, o.version) for o in page.objects}


async def test_versions_are_served_as_written(store: Store) -> None:
    sid = f"indicator--{uuid.uuid4()}"
    texts = ["2026-01-02T03:04:25.524Z", "2026-01-02T03:04:26Z", "2026-01-02T03:04:27.123456789Z"]
    await store.objects.insert_objects([_object(t, sid) for t in texts])
    observable = _object(None)
    await store.objects.insert_objects([observable])
    for with_body in (True, False):
        found = await _read(store, with_body)
        assert sorted(v[0] for k, v in found.items() if k.startswith(sid)) == texts
        for written, normalised in found.values():
            assert normalise_ts(written) == normalised
        # an object with neither modified nor created: its version is its date_added
        (only,) = [v for k, v in found.items() if k.startswith(observable.stix_id)]
        assert only[0] == only[1]


async def test_match_version_is_by_instant(store: Store) -> None:
    sid = f"indicator--{uuid.uuid4()}"
    await store.objects.insert_objects([_object("2026-01-02T03:04:25.524Z", sid)])
    for spelling in (
        "2026-01-02T03:04:25.524Z",
        "2026-01-02T03:04:25.524000Z",
        "2026-01-02T03:04:25.5240000Z",
    ):
        page = await store.objects.read_objects(
            ANONYMOUS,
            ReadQuery(
                collection="public",
                filter=ObjectFilter(ids=(sid,), versions=(normalise_ts(spelling),)),
            ),
        )
        assert [o.version_as_written for o in page.objects] == ["2026-01-02T03:04:25.524Z"]


def _before_0005(store: Any) -> None:
    """Make ``store`` migrate only as far as the schema before migration 0005."""
    migrations = store.migrations
    store.migrations = lambda: [(v, s) for v, s in migrations() if v < 5]


async def test_migration_0005_backfills_from_bodies(store_factory: StoreFactory) -> None:
    old: Any = store_factory()
    _before_0005(old)
    await old.open()
    assert (await old.schema_version())[0] == 4
    rows = [
        (
            "indicator--11111111-1111-4111-8111-111111111111",
            {"created": "2026-01-01T00:00:00Z", "modified": "2026-01-02T03:04:25.524Z"},
        ),
        ("indicator--22222222-2222-4222-8222-222222222222", {"created": "2026-01-03T00:00:00.1Z"}),
        ("ipv4-addr--33333333-3333-4333-8333-333333333333", {}),
    ]
    async with old.transaction(write=True) as tx:
        for seq, (sid, stamps) in enumerate(rows, start=1):
            body = json.dumps({"type": sid.split("--")[0], "id": sid, **stamps})
            version = normalise_ts(
                stamps.get("modified") or stamps.get("created") or "2026-01-04T00:00:00Z"
            )
            await tx.execute(
                "INSERT INTO objects (seq, stix_id, type, spec_version, version, date_added,"
                " tlp, body) VALUES (?, ?, ?, '2.1', ?, ?, 'clear', ?)",
                (seq, sid, sid.split("--")[0], version, "2026-01-04T00:00:00.000000Z", body),
            )
            await tx.execute(
                "INSERT INTO object_audience (seq, principal) VALUES (?, ?)", (seq, policy.PUBLIC)
            )
            await tx.execute(
                "INSERT INTO object_heads (stix_id, head_seq) VALUES (?, ?)", (sid, seq)
            )
    await old.close()

    new = store_factory()
    await new.open()
    have, want = await new.schema_version()
    assert have == want >= 5
    found = {k.split("@")[0]: v[0] for k, v in (await _read(new, False)).items()}
    assert found == {
        rows[0][0]: "2026-01-02T03:04:25.524Z",
        rows[1][0]: "2026-01-03T00:00:00.1Z",
        rows[2][0]: "2026-01-04T00:00:00.000000Z",
    }
