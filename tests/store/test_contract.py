"""The Store contract: one suite, run against SQLite and PostgreSQL (see conftest.py).

Only the Store protocol's public methods are used. Objects are built by hand as
``NewObject`` values, with the audience principals the publish pipeline would
compute (``policy.object_audience``), and readers are ``Principal`` values built
with ``policy.reader_matches`` or ``policy.ANONYMOUS``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from exchange import policy
from exchange.errors import Conflict, InvalidInput, NotFound
from exchange.models import (
    Delivery,
    Group,
    InsertOutcome,
    Key,
    Member,
    MemberKind,
    MemberStatus,
    NewObject,
    ObjectFilter,
    Principal,
    ReadQuery,
    RuleDirection,
    RuleEffect,
    StandingRule,
    Status,
    StatusFailure,
    StatusSuccess,
    StoredObject,
    Tlp,
    Token,
    TokenScope,
)
from exchange.policy import ANONYMOUS, TLP_MARKING_IDS
from exchange.store.base import Store
from exchange.store.sql import SqlStore
from exchange.timeutil import format_ts, parse_ts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dt(n: int) -> datetime:
    return T0 + timedelta(days=n)


def ts(n: int) -> str:
    """A normalised timestamp, ``2026-01-01T00:00:00.000000Z`` for n = 0."""
    return format_ts(dt(n))


# --- builders ---------------------------------------------------------------------------------

_order = iter(range(1_000_000))


def make_member(
    name: str,
    *,
    kind: MemberKind = MemberKind.PRIVATE,
    sector: str = "finance",
    economy: str = "DE",
) -> Member:
    return Member(
        id=f"mem-{name}",
        identity=f"identity--{uuid.uuid4()}",
        name=name,
        kind=kind,
        sector=sector,
        economy=economy,
        created=T0 + timedelta(seconds=next(_order)),
    )


def as_reader(
    member: Member, groups: Iterable[str] = (), inbound: Iterable[StandingRule] = ()
) -> Principal:
    return Principal(
        member=member.id,
        identity=member.identity,
        matches=policy.reader_matches(member, groups),
        inbound=tuple(inbound),
        can_write=True,
        suspended=member.status is not MemberStatus.ACTIVE,
    )


def new_object(
    author: Member | None,
    *,
    type_: str = "indicator",
    stix_id: str | None = None,
    tlp: Tlp | None = Tlp.GREEN,
    audience: Sequence[str] | None = None,
    version: str = ts(0),
    ends: Sequence[str] = (),
    extra_markings: Sequence[str] = (),
    audience_entries: Sequence[str] | None = None,
    spec_version: str = "2.1",
    note: str = "",
) -> NewObject:
    """An object as the publish pipeline would hand it to the store."""
    sid = stix_id or f"{type_}--{uuid.uuid4()}"
    markings = ((TLP_MARKING_IDS[tlp],) if tlp else ()) + tuple(extra_markings)
    principals = policy.object_audience(tlp, audience) if tlp else tuple(audience or ())
    body: dict[str, object] = {"type": type_, "spec_version": spec_version, "id": sid}
    if author is not None:
        body["created_by_ref"] = author.identity
    if version:
        body["created"] = ts(0)
        if type_ != "marking-definition":
            body["modified"] = version
    if markings:
        body["object_marking_refs"] = list(markings)
    if len(ends) == 2:
        body["source_ref"], body["target_ref"] = ends
    if note:
        body["description"] = note
    return NewObject(
        stix_id=sid,
        type=type_,
        spec_version=spec_version,
        version=version,
        created=ts(0) if version else None,
        author_identity=author.identity if author else None,
        poster_member=author.id if author else None,
        tlp=tlp,
        audience=principals,
        ends=tuple(ends),
        markings=markings,
        audience_entries=tuple(audience_entries) if audience_entries is not None else None,
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
    )


def audience_marking(author: Member, entries: Sequence[str]) -> NewObject:
    """An audience marking definition (no TLP of its own, readable through what it marks)."""
    return new_object(
        author, type_="marking-definition", tlp=None, audience_entries=entries, version=ts(0)
    )


def relationship(author: Member, source: str, target: str, **kw: object) -> NewObject:
    return new_object(author, type_="relationship", ends=(source, target), **kw)  # type: ignore[arg-type]


def member_of(member: Member) -> str:
    return f"member:{member.identity}"


async def add_members(store: Store, *members: Member) -> None:
    for m in members:
        await store.members.add_member(m)


async def insert(store: Store, *objects: NewObject) -> None:
    results = await store.objects.insert_objects(objects)
    assert [r.outcome for r in results] == [InsertOutcome.INSERTED] * len(objects), results


async def read(
    store: Store,
    who: Principal,
    *,
    collection: str = "bulletins",
    with_body: bool = True,
    **flt: object,
) -> list[StoredObject]:
    query = ReadQuery(collection=collection, filter=ObjectFilter(**flt), limit=1000)  # type: ignore[arg-type]
    page = await store.objects.read_objects(who, query, with_body=with_body)
    assert page.more is False
    return list(page.objects)


async def visible(store: Store, who: Principal, **kw: object) -> set[str]:
    return {o.stix_id for o in await read(store, who, versions=("all",), **kw)}  # type: ignore[arg-type]


def sids(*objects: NewObject) -> set[str]:
    return {o.stix_id for o in objects}


# --- schema, secrets --------------------------------------------------------------------------


async def test_migrations_are_idempotent(store_factory) -> None:  # type: ignore[no-untyped-def]
    first = store_factory()
    await first.open()
    have, want = await first.schema_version()
    assert have == want >= 1
    await first.ping()
    member = make_member("persistent")
    await first.members.add_member(member)
    await first.close()

    again = store_factory()
    await again.open()  # migrating an up-to-date database changes nothing
    assert await again.schema_version() == (want, want)
    assert await again.members.get_member(member.id) == member
    third = store_factory()
    await third.open()  # and a second process opening the same database meanwhile is fine
    assert await third.schema_version() == (want, want)
    assert [m.id for m in await third.members.list_members()] == [member.id]


async def test_secret_get_or_create_keeps_the_first_value(store: Store) -> None:
    assert await store.get_or_create_secret("cursor-mac", b"\x00first\xff") == b"\x00first\xff"
    assert await store.get_or_create_secret("cursor-mac", b"second") == b"\x00first\xff"
    assert await store.get_or_create_secret("signing-key", b"other") == b"other"


# --- members, tokens, keys --------------------------------------------------------------------


async def test_members(store: Store) -> None:
    alice = make_member("Alice")
    bob = make_member("Bob", kind=MemberKind.GOVERNMENT, sector="energy", economy="FR")
    await add_members(store, alice, bob)

    assert await store.members.get_member(alice.id) == alice
    assert await store.members.get_member_by_identity(bob.identity) == bob
    assert await store.members.get_member_by_identity(f"identity--{uuid.uuid4()}") is None
    assert await store.members.list_members() == [alice, bob]

    suspended = await store.members.set_member_status(bob.id, MemberStatus.SUSPENDED)
    assert suspended.status is MemberStatus.SUSPENDED
    assert (await store.members.get_member(bob.id)).status is MemberStatus.SUSPENDED
    assert (
        await store.members.set_member_status(bob.id, MemberStatus.ACTIVE)
    ).status is MemberStatus.ACTIVE

    with pytest.raises(Conflict):
        await store.members.add_member(make_member("Alice"))
    with pytest.raises(NotFound):
        await store.members.get_member("mem-nobody")
    with pytest.raises(NotFound):
        await store.members.set_member_status("mem-nobody", MemberStatus.SUSPENDED)
    assert await store.members.list_members() == [alice, bob]


async def test_tokens(store: Store) -> None:
    alice = make_member("Alice")
    await store.members.add_member(alice)
    token = Token(
        token_id="tok-1",
        member=alice.id,
        token_hash="a" * 64,
        scope=TokenScope.READ_ONLY,
        created=dt(0),
        expires=dt(90),
    )
    forever = Token(
        token_id="tok-2",
        member=alice.id,
        token_hash="b" * 64,
        scope=TokenScope.READ_WRITE,
        created=dt(1),
        expires=None,
    )
    await store.members.add_token(token)
    await store.members.add_token(forever)

    assert await store.members.find_token("a" * 64) == token
    assert await store.members.find_token("b" * 64) == forever
    assert await store.members.find_token("c" * 64) is None
    assert await store.members.get_token("tok-2") == forever

    revoked = await store.members.revoke_token("tok-1", ts(3))
    assert revoked.revoked == dt(3)
    assert (await store.members.revoke_token("tok-1", ts(5))).revoked == dt(
        3
    )  # the first revocation stays
    found = await store.members.find_token("a" * 64)
    assert found is not None and found.revoked == dt(3)
    assert (await store.members.get_token("tok-2")).revoked is None

    with pytest.raises(NotFound):
        await store.members.revoke_token("tok-nope", ts(3))
    with pytest.raises(NotFound):
        await store.members.get_token("tok-nope")


async def test_keys(store: Store) -> None:
    alice = make_member("Alice")
    bob = make_member("Bob")
    await add_members(store, alice, bob)
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    k_alice = Key(
        key_id="1" * 64,
        member=alice.id,
        identity=alice.identity,
        public_key=pem,
        not_before=dt(0),
        not_after=dt(365),
        created=dt(0),
    )
    k_bob = Key(
        key_id="2" * 64,
        member=bob.id,
        identity=bob.identity,
        public_key=pem,
        not_before=dt(1),
        not_after=None,
        created=dt(1),
    )
    k_exchange = Key(
        key_id="3" * 64,
        member=None,
        identity=f"identity--{uuid.uuid4()}",
        public_key=pem,
        not_before=dt(2),
        not_after=None,
        created=dt(2),
    )
    for key in (k_alice, k_bob, k_exchange):
        await store.members.add_key(key)

    assert await store.members.get_key(k_alice.key_id) == k_alice
    assert await store.members.get_key(k_exchange.key_id) == k_exchange
    assert await store.members.get_key("f" * 64) is None
    assert await store.members.list_keys() == [k_alice, k_bob, k_exchange]
    assert await store.members.list_keys(bob.id) == [k_bob]

    with pytest.raises(Conflict):
        await store.members.add_key(k_alice.model_copy(update={"member": bob.id}))

    assert (await store.members.revoke_key(k_alice.key_id, ts(10))).revoked_since == dt(10)
    # an earlier moment moves the revocation back; a later one keeps the earlier
    assert (await store.members.revoke_key(k_alice.key_id, ts(5))).revoked_since == dt(5)
    assert (await store.members.revoke_key(k_alice.key_id, ts(20))).revoked_since == dt(5)
    stored = await store.members.get_key(k_alice.key_id)
    assert stored is not None and stored.revoked_since == dt(5)
    assert (await store.members.get_key(k_bob.key_id)).revoked_since is None  # type: ignore[union-attr]

    with pytest.raises(NotFound):
        await store.members.revoke_key("f" * 64, ts(1))


# --- groups, rules ----------------------------------------------------------------------------


async def test_groups(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    await store.sharing.create_group("analysts", ts(0))
    await store.sharing.create_group("zeta", ts(0))
    await store.sharing.create_group("empty", ts(0))

    assert await store.sharing.add_group_member("analysts", bob.id) == Group(
        name="analysts", members=(bob.id,)
    )
    group = await store.sharing.add_group_member("analysts", alice.id)
    assert set(group.members) == {alice.id, bob.id}
    again = await store.sharing.add_group_member("analysts", alice.id)  # adding twice is harmless
    assert sorted(again.members) == sorted(group.members)
    await store.sharing.add_group_member("zeta", alice.id)

    assert sorted((await store.sharing.get_group("analysts")).members) == sorted([alice.id, bob.id])
    listed = {g.name: set(g.members) for g in await store.sharing.list_groups()}
    assert listed == {"analysts": {alice.id, bob.id}, "zeta": {alice.id}, "empty": set()}
    assert await store.sharing.groups_of(alice.id) == ["analysts", "zeta"]
    assert await store.sharing.groups_of(bob.id) == ["analysts"]
    assert await store.sharing.groups_of("mem-nobody") == []

    with pytest.raises(Conflict):
        await store.sharing.create_group("analysts", ts(1))
    with pytest.raises(NotFound):
        await store.sharing.add_group_member("nope", alice.id)
    with pytest.raises(NotFound):
        await store.sharing.add_group_member("analysts", "mem-nobody")
    with pytest.raises(NotFound):
        await store.sharing.get_group("nope")


def _normal(rule: StandingRule) -> tuple[object, ...]:
    return (
        rule.rule_id,
        rule.member,
        rule.direction,
        rule.effect,
        rule.field,
        frozenset(rule.values),
        rule.created,
    )


async def test_rules(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    outbound = StandingRule(
        rule_id="rule-1",
        member=alice.id,
        direction=RuleDirection.OUTBOUND,
        effect=RuleEffect.REQUIRE,
        values=("kind:government", "economy:DE", "economy:DE"),
        created=dt(1),
    )
    deny = StandingRule(
        rule_id="rule-2",
        member=alice.id,
        direction=RuleDirection.OUTBOUND,
        effect=RuleEffect.DENY,
        values=(f"member:{bob.identity}",),
        created=dt(2),
    )
    inbound = StandingRule(
        rule_id="rule-3",
        member=bob.id,
        direction=RuleDirection.INBOUND,
        effect=RuleEffect.ONLY,
        field="type",
        values=("indicator", "malware"),
        created=dt(3),
    )
    await store.sharing.add_rule(outbound, identity=alice.identity)
    await store.sharing.add_rule(deny, identity=alice.identity)
    await store.sharing.add_rule(inbound, identity=bob.identity)

    assert [_normal(r) for r in await store.sharing.list_rules()] == [
        _normal(outbound),
        _normal(deny),
        _normal(inbound),
    ]
    assert sorted((await store.sharing.list_rules())[0].values) == ["economy:DE", "kind:government"]
    assert [r.rule_id for r in await store.sharing.list_rules(alice.id)] == ["rule-1", "rule-2"]
    assert [_normal(r) for r in await store.sharing.list_rules(bob.id)] == [_normal(inbound)]

    await store.sharing.delete_rule("rule-1")
    assert [r.rule_id for r in await store.sharing.list_rules()] == ["rule-2", "rule-3"]
    with pytest.raises(NotFound):
        await store.sharing.delete_rule("rule-1")


# --- statuses, deliveries ---------------------------------------------------------------------


async def test_statuses(store: Store) -> None:
    old = Status(
        id=str(uuid.uuid4()),
        member="mem-alice",
        status="complete",
        request_timestamp=ts(1),
        total_count=2,
        success_count=1,
        successes=(StatusSuccess(id="indicator--x", version=ts(0)),),
        failure_count=1,
        failures=(StatusFailure(id="indicator--y", version=ts(0), message="bad signature"),),
    )
    new = Status(
        id=str(uuid.uuid4()),
        member="mem-bob",
        status="pending",
        request_timestamp=ts(3),
        total_count=1,
        success_count=0,
        failure_count=0,
        pending_count=1,
        pendings=(StatusSuccess(id="indicator--z"),),
    )
    await store.statuses.save_status(old)
    await store.statuses.save_status(new)
    assert await store.statuses.get_status(old.id) == old
    assert await store.statuses.get_status(new.id) == new
    assert await store.statuses.get_status(str(uuid.uuid4())) is None

    assert await store.statuses.expire_statuses(ts(2)) == 1
    assert await store.statuses.get_status(old.id) is None
    assert await store.statuses.get_status(new.id) == new
    assert await store.statuses.expire_statuses(ts(2)) == 0


async def test_deliveries(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    a1 = new_object(alice, version=ts(1))
    a2 = new_object(alice, stix_id=a1.stix_id, version=ts(2))
    other = new_object(alice)
    await insert(store, a1, a2, other)
    stored = await read(store, as_reader(bob), versions=("all",))
    by_version = {(o.stix_id, o.version): o for o in stored}

    await store.statuses.record_deliveries(bob.id, [by_version[(a1.stix_id, ts(1))]], ts(5))
    await store.statuses.record_deliveries(
        bob.id, [by_version[(a1.stix_id, ts(1))]], ts(6)
    )  # idempotent
    await store.statuses.record_deliveries(alice.id, stored, ts(7))
    await store.statuses.record_deliveries(alice.id, [], ts(8))

    assert await store.statuses.list_deliveries(a1.stix_id) == [
        Delivery(member=bob.id, stix_id=a1.stix_id, version=ts(1), delivered=ts(5)),
        Delivery(member=alice.id, stix_id=a1.stix_id, version=ts(1), delivered=ts(7)),
        Delivery(member=alice.id, stix_id=a1.stix_id, version=ts(2), delivered=ts(7)),
    ]
    assert [d.member for d in await store.statuses.list_deliveries(other.stix_id)] == [alice.id]
    assert await store.statuses.list_deliveries("indicator--unknown") == []


# --- insert, delete, facts --------------------------------------------------------------------


async def test_insert_assigns_distinct_increasing_date_added_and_seq(store: Store) -> None:
    alice = make_member("Alice")
    await store.members.add_member(alice)
    assert await store.objects.latest_seq() == 0
    assert await store.objects.insert_objects([]) == []

    first = await store.objects.insert_objects([new_object(alice) for _ in range(6)])
    second = await store.objects.insert_objects([new_object(alice) for _ in range(4)])
    results = first + second
    assert all(r.outcome is InsertOutcome.INSERTED for r in results)
    seqs = [r.seq for r in results]
    stamps = [r.date_added for r in results]
    assert all(s is not None for s in seqs) and all(d is not None for d in stamps)
    assert seqs == sorted(set(seqs))  # type: ignore[type-var]
    assert [parse_ts(d) for d in stamps] == sorted({parse_ts(d) for d in stamps})  # type: ignore[arg-type]
    assert all(len(d) == 27 and d.endswith("Z") for d in stamps)  # type: ignore[union-attr]
    assert max(seqs[:6]) < min(seqs[6:])  # type: ignore[type-var]
    assert await store.objects.latest_seq() == seqs[-1]

    stored = await read(store, as_reader(alice), versions=("all",))
    assert [(o.seq, o.date_added) for o in stored] == list(zip(seqs, stamps, strict=True))


async def test_insert_duplicate_and_conflict(store: Store) -> None:
    alice = make_member("Alice")
    await store.members.add_member(alice)
    original = new_object(alice, version=ts(1), note="original")
    await insert(store, original)

    other_body = new_object(alice, stix_id=original.stix_id, version=ts(1), note="changed")
    newer = new_object(alice, stix_id=original.stix_id, version=ts(2), note="changed")
    fresh = new_object(alice, version=ts(1))
    results = await store.objects.insert_objects([original, other_body, fresh, newer, fresh])
    assert [r.outcome for r in results] == [
        InsertOutcome.DUPLICATE,
        InsertOutcome.CONFLICT,
        InsertOutcome.INSERTED,
        InsertOutcome.INSERTED,
        InsertOutcome.DUPLICATE,  # same id and version earlier in the same call
    ]
    assert [(r.stix_id, r.version) for r in results] == [
        (original.stix_id, ts(1)),
        (original.stix_id, ts(1)),
        (fresh.stix_id, ts(1)),
        (original.stix_id, ts(2)),
        (fresh.stix_id, ts(1)),
    ]
    for r in (results[0], results[1], results[4]):
        assert r.seq is None and r.date_added is None

    stored = await read(store, as_reader(alice), ids=(original.stix_id,), versions=("all",))
    assert [(o.version, o.body) for o in stored] == [
        (ts(1), original.body),
        (ts(2), newer.body),
    ]


async def test_objects_without_version_get_date_added_as_version(store: Store) -> None:
    alice = make_member("Alice")
    await store.members.add_member(alice)
    versionless = new_object(alice, version="")
    [result] = await store.objects.insert_objects([versionless])
    assert result.outcome is InsertOutcome.INSERTED
    assert result.version == result.date_added
    [stored] = await read(store, as_reader(alice), ids=(versionless.stix_id,))
    assert stored.version == stored.date_added == result.date_added
    assert stored.body == versionless.body


async def test_delete_objects_hides_them_from_reads(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    v1 = new_object(alice, version=ts(1))
    v2 = new_object(alice, stix_id=v1.stix_id, version=ts(2))
    keep = new_object(alice)
    await insert(store, v1, v2, keep)

    assert await store.objects.delete_objects(v1.stix_id, [ts(1)], ts(5)) == 1
    for who in (as_reader(alice), as_reader(bob)):
        rows = await read(store, who, versions=("all",))
        assert [(o.stix_id, o.version) for o in rows] == [
            (v1.stix_id, ts(2)),
            (keep.stix_id, ts(0)),
        ]
    # "first" is now the first version still held
    [first] = await read(store, as_reader(bob), ids=(v1.stix_id,), versions=("first",))
    assert first.version == ts(2)

    assert await store.objects.delete_objects(v1.stix_id, None, ts(6)) == 1
    assert await store.objects.delete_objects(v1.stix_id, None, ts(7)) == 0
    assert await store.objects.delete_objects("indicator--unknown", None, ts(7)) == 0
    assert await read(store, as_reader(alice), ids=(v1.stix_id,), versions=("all",)) == []
    assert await visible(store, as_reader(bob)) == {keep.stix_id}

    # withdrawn objects stay known to the exchange
    assert await store.objects.object_authors([v1.stix_id]) == {v1.stix_id: alice.identity}
    assert [f.deleted for f in await store.objects.object_facts(v1.stix_id)] == [True, True]


async def test_object_authors(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    a = new_object(alice)
    b = new_object(bob, version=ts(1))
    b2 = new_object(bob, stix_id=b.stix_id, version=ts(2))
    anonymous = new_object(None)
    await insert(store, a, b, b2, anonymous)
    assert await store.objects.object_authors(
        [a.stix_id, b.stix_id, anonymous.stix_id, "indicator--unknown", a.stix_id]
    ) == {a.stix_id: alice.identity, b.stix_id: bob.identity, anonymous.stix_id: None}
    assert await store.objects.object_authors([]) == {}


async def test_audience_markings(store: Store) -> None:
    alice, bob = make_member("Alice"), make_member("Bob")
    await add_members(store, alice, bob)
    entries = (member_of(bob), "group:analysts", "sector:energy", "economy:FR", "kind:government")
    marking = audience_marking(alice, entries)
    plain = new_object(alice)
    await insert(store, marking, plain)
    assert await store.objects.audience_markings(
        [marking.stix_id, plain.stix_id, "marking-definition--unknown"]
    ) == {marking.stix_id: (marking.stix_id, alice.identity, entries)}
    assert await store.objects.audience_markings([]) == {}


async def test_object_facts(store: Store) -> None:
    alice = make_member("Alice", sector="telecom")
    await store.members.add_member(alice)
    v2 = new_object(alice, version=ts(2), tlp=Tlp.AMBER, audience=("economy:FR", "sector:energy"))
    v1 = new_object(alice, stix_id=v2.stix_id, version=ts(1))
    stranger = new_object(None, tlp=Tlp.CLEAR)
    await insert(store, v2, v1, stranger)  # stored out of version order

    facts = await store.objects.object_facts(v2.stix_id)
    assert facts == [
        policy.ObjectFacts(
            stix_id=v2.stix_id,
            type="indicator",
            tlp=Tlp.GREEN,
            author_identity=alice.identity,
            author_sector="telecom",
            audience=("members",),
            deleted=False,
            version=v1.version,
        ),
        policy.ObjectFacts(
            stix_id=v2.stix_id,
            type="indicator",
            tlp=Tlp.AMBER,
            author_identity=alice.identity,
            author_sector="telecom",
            audience=("economy:FR", "sector:energy"),
            deleted=False,
            version=v2.version,
        ),
    ]
    [fact] = await store.objects.object_facts(stranger.stix_id)
    assert fact.author_identity is None and fact.author_sector is None
    assert fact.audience == ("public",)
    assert await store.objects.object_facts("indicator--unknown") == []


# --- the sharing policy in read_objects -------------------------------------------------------


@pytest.fixture
def cast() -> dict[str, Member]:
    """Publisher (NL, telecom), Alice (DE, finance), Bob (FR, energy, government), Carol (US)."""
    return {
        "pub": make_member("Publisher", sector="telecom", economy="NL"),
        "alice": make_member("Alice", sector="finance", economy="DE"),
        "bob": make_member("Bob", kind=MemberKind.GOVERNMENT, sector="energy", economy="FR"),
        "carol": make_member("Carol", sector="health", economy="US"),
    }


async def test_tlp_clear_and_green(store: Store, cast: dict[str, Member]) -> None:
    pub, alice = cast["pub"], cast["alice"]
    await add_members(store, pub, alice)
    clear = new_object(pub, tlp=Tlp.CLEAR)
    green = new_object(pub, tlp=Tlp.GREEN)
    await insert(store, clear, green)

    assert await visible(store, ANONYMOUS) == sids(clear)
    assert await visible(store, as_reader(alice)) == sids(clear, green)
    assert await visible(store, as_reader(pub)) == sids(clear, green)


async def test_public_collection_holds_only_tlp_clear(
    store: Store, cast: dict[str, Member]
) -> None:
    pub, alice = cast["pub"], cast["alice"]
    await add_members(store, pub, alice)
    clear = new_object(pub, tlp=Tlp.CLEAR)
    green = new_object(pub, tlp=Tlp.GREEN)
    amber = new_object(pub, tlp=Tlp.AMBER, audience=(member_of(alice),))
    await insert(store, clear, green, amber)

    for who in (ANONYMOUS, as_reader(alice), as_reader(pub)):
        assert await visible(store, who, collection="public") == sids(clear)


async def test_audience_narrows_every_tlp(store: Store, cast: dict[str, Member]) -> None:
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    await store.sharing.create_group("analysts", ts(0))
    await store.sharing.add_group_member("analysts", alice.id)

    to_alice = new_object(pub, tlp=Tlp.AMBER, audience=(member_of(alice),))
    to_group = new_object(pub, tlp=Tlp.AMBER_STRICT, audience=("group:analysts",))
    to_sector = new_object(pub, tlp=Tlp.AMBER, audience=("sector:energy",))
    to_economy = new_object(pub, tlp=Tlp.AMBER, audience=("economy:FR",))
    to_kind = new_object(pub, tlp=Tlp.AMBER, audience=("kind:government",))
    red = new_object(pub, tlp=Tlp.RED, audience=(member_of(bob),))
    clear_de = new_object(pub, tlp=Tlp.CLEAR, audience=("economy:DE",))
    green_finance = new_object(pub, tlp=Tlp.GREEN, audience=("sector:finance",))
    either = new_object(pub, tlp=Tlp.AMBER, audience=("economy:US", "sector:energy"))
    everything = [
        to_alice,
        to_group,
        to_sector,
        to_economy,
        to_kind,
        red,
        clear_de,
        green_finance,
        either,
    ]
    await insert(store, *everything)

    alice_reader = as_reader(alice, await store.sharing.groups_of(alice.id))
    assert await visible(store, alice_reader) == sids(to_alice, to_group, clear_de, green_finance)
    assert await visible(store, as_reader(bob)) == sids(to_sector, to_economy, to_kind, red, either)
    assert await visible(store, as_reader(carol)) == sids(either)
    assert await visible(store, ANONYMOUS) == set()
    # the publisher always reads its own objects, in no audience of them
    assert await visible(store, as_reader(pub)) == sids(*everything)
    # group membership is the reader's: without it, the group audience is closed
    assert to_group.stix_id not in await visible(store, as_reader(alice))


async def test_suspended_member_reads_nothing(store: Store, cast: dict[str, Member]) -> None:
    pub, alice = cast["pub"], cast["alice"]
    await add_members(store, pub, alice)
    own = new_object(pub, tlp=Tlp.CLEAR)
    await insert(store, own, new_object(alice, tlp=Tlp.GREEN))
    suspended = await store.members.set_member_status(pub.id, MemberStatus.SUSPENDED)
    assert await visible(store, as_reader(suspended)) == set()
    assert await visible(store, ANONYMOUS) == sids(own)


async def test_relationships_need_readable_ends(store: Store, cast: dict[str, Member]) -> None:
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    secret = new_object(pub, type_="malware", tlp=Tlp.AMBER, audience=(member_of(alice),))
    shared = new_object(pub, type_="indicator", tlp=Tlp.GREEN)
    unheld = f"threat-actor--{uuid.uuid4()}"
    rel_secret = relationship(pub, shared.stix_id, secret.stix_id)
    rel_unheld = relationship(pub, shared.stix_id, unheld)
    sighting_by_bob = new_object(bob, type_="sighting", ends=(secret.stix_id,))
    # the latest version decides: an end whose latest version the reader may not read is
    # unreadable, however wide its earlier versions were
    mixed = new_object(pub, type_="malware", version=ts(1))
    mixed_v2 = new_object(
        pub,
        type_="malware",
        stix_id=mixed.stix_id,
        version=ts(2),
        tlp=Tlp.RED,
        audience=(member_of(alice),),
    )
    rel_mixed = relationship(carol, shared.stix_id, mixed.stix_id)
    await insert(
        store, secret, shared, rel_secret, rel_unheld, sighting_by_bob, mixed, mixed_v2, rel_mixed
    )

    assert await visible(store, as_reader(alice)) == sids(
        secret, shared, rel_secret, rel_unheld, sighting_by_bob, mixed, rel_mixed
    )
    # Bob may not read the secret end: its relationship is withheld; his own sighting is not
    assert await visible(store, as_reader(bob)) == sids(shared, rel_unheld, sighting_by_bob)
    # Carol reads her own relationship, not the narrowed end
    assert await visible(store, as_reader(carol)) == sids(shared, rel_unheld, rel_mixed)
    assert await visible(store, as_reader(pub)) == sids(
        secret, shared, rel_secret, rel_unheld, sighting_by_bob, mixed, rel_mixed
    )
    # reading a relationship never widens who reads its ends
    assert await visible(store, as_reader(alice), ids=(secret.stix_id,)) == sids(secret)
    assert await visible(store, as_reader(bob), ids=(secret.stix_id,)) == set()

    # once the exchange no longer holds the end, it no longer holds anything back
    await store.objects.delete_objects(secret.stix_id, None, ts(9))
    assert rel_secret.stix_id in await visible(store, as_reader(bob))
    assert secret.stix_id not in await visible(store, as_reader(bob))


async def test_marking_definitions_follow_what_references_them(
    store: Store, cast: dict[str, Member]
) -> None:
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    m_alice = audience_marking(pub, (member_of(alice),))
    o_alice = new_object(
        pub, tlp=Tlp.AMBER, audience=(member_of(alice),), extra_markings=(m_alice.stix_id,)
    )
    m_bob = audience_marking(pub, (member_of(bob),))
    o_bob = new_object(
        pub, tlp=Tlp.AMBER, audience=(member_of(bob),), extra_markings=(m_bob.stix_id,)
    )
    # referenced only by a relationship Alice may not read (one of its ends is Bob's)
    m_rel = audience_marking(pub, ("economy:DE", "economy:FR"))
    rel = relationship(
        pub,
        o_alice.stix_id,
        o_bob.stix_id,
        tlp=Tlp.AMBER,
        audience=("economy:DE", "economy:FR"),
        extra_markings=(m_rel.stix_id,),
    )
    unused = audience_marking(pub, ("sector:energy",))
    green_unused = new_object(pub, type_="marking-definition", tlp=Tlp.GREEN)
    clear_marking = new_object(pub, type_="marking-definition", tlp=Tlp.CLEAR)
    everything = [m_alice, o_alice, m_bob, o_bob, m_rel, rel, unused, green_unused, clear_marking]
    await insert(store, *everything)

    assert await visible(store, as_reader(alice)) == sids(m_alice, o_alice, clear_marking)
    assert await visible(store, as_reader(bob)) == sids(m_bob, o_bob, clear_marking)
    assert await visible(store, as_reader(carol)) == sids(clear_marking)
    assert await visible(store, ANONYMOUS) == sids(clear_marking)
    assert await visible(store, as_reader(pub)) == sids(*everything)

    await store.objects.delete_objects(o_alice.stix_id, None, ts(9))
    assert await visible(store, as_reader(alice)) == sids(clear_marking)


def outbound_rule(owner: Member, effect: RuleEffect, *values: str) -> StandingRule:
    return StandingRule(
        rule_id=f"rule-{uuid.uuid4()}",
        member=owner.id,
        direction=RuleDirection.OUTBOUND,
        effect=effect,
        values=values,
        created=dt(0),
    )


async def test_outbound_rules_narrow(store: Store, cast: dict[str, Member]) -> None:
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    clear = new_object(pub, tlp=Tlp.CLEAR)
    green = new_object(pub, tlp=Tlp.GREEN)
    marking = audience_marking(pub, ("economy:FR", "economy:DE"))
    amber = new_object(
        pub,
        tlp=Tlp.AMBER,
        audience=("economy:FR", "economy:DE"),
        extra_markings=(marking.stix_id,),
    )
    others = new_object(carol, tlp=Tlp.GREEN)
    rel = relationship(alice, others.stix_id, green.stix_id)
    await insert(store, clear, green, marking, amber, others, rel)

    require = outbound_rule(pub, RuleEffect.REQUIRE, "economy:DE", "kind:government")
    await store.sharing.add_rule(require, identity=pub.identity)
    assert await visible(store, as_reader(alice)) == sids(clear, green, marking, amber, others, rel)
    assert await visible(store, as_reader(bob)) == sids(clear, green, marking, amber, others, rel)
    # Carol matches neither value: the publisher's objects, and what leads to them, are withheld
    assert await visible(store, as_reader(carol)) == sids(others)
    assert await visible(store, ANONYMOUS) == set()
    assert await visible(store, as_reader(pub)) == sids(clear, green, marking, amber, others, rel)

    deny = outbound_rule(pub, RuleEffect.DENY, "sector:energy")
    await store.sharing.add_rule(deny, identity=pub.identity)
    assert await visible(store, as_reader(bob)) == sids(others)
    assert await visible(store, as_reader(alice)) == sids(clear, green, marking, amber, others, rel)

    await store.sharing.delete_rule(require.rule_id)
    assert await visible(store, as_reader(carol)) == sids(clear, green, others, rel)
    assert await visible(store, ANONYMOUS) == sids(clear)
    await store.sharing.delete_rule(deny.rule_id)
    assert await visible(store, as_reader(bob)) == sids(clear, green, marking, amber, others, rel)


def inbound_rule(owner: Member, fld: str, *values: str) -> StandingRule:
    return StandingRule(
        rule_id=f"rule-{uuid.uuid4()}",
        member=owner.id,
        direction=RuleDirection.INBOUND,
        effect=RuleEffect.ONLY,
        field=fld,
        values=values,
        created=dt(0),
    )


async def test_inbound_rules_filter(store: Store, cast: dict[str, Member]) -> None:
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    pub_indicator = new_object(pub, type_="indicator", tlp=Tlp.GREEN)
    alice_malware = new_object(alice, type_="malware", tlp=Tlp.CLEAR)
    alice_indicator = new_object(alice, type_="indicator", tlp=Tlp.GREEN)
    bob_report = new_object(bob, type_="report", tlp=Tlp.CLEAR)
    marking = audience_marking(bob, (member_of(carol),))
    bob_amber = new_object(
        bob,
        type_="indicator",
        tlp=Tlp.AMBER,
        audience=(member_of(carol),),
        extra_markings=(marking.stix_id,),
    )
    not_for_carol = new_object(alice, type_="indicator", tlp=Tlp.RED, audience=(member_of(bob),))
    await insert(
        store,
        pub_indicator,
        alice_malware,
        alice_indicator,
        bob_report,
        marking,
        bob_amber,
        not_for_carol,
    )
    everything = sids(pub_indicator, alice_malware, alice_indicator, bob_report, marking, bob_amber)
    assert await visible(store, as_reader(carol)) == everything

    rules = [
        inbound_rule(carol, "type", "indicator", "report"),
        inbound_rule(carol, "tlp", "clear"),
        inbound_rule(carol, "publisher", alice.identity, pub.identity),
        inbound_rule(carol, "sector", "finance", "energy"),
    ]
    for rule in rules:
        await store.sharing.add_rule(rule, identity=carol.identity)
    stored = {r.rule_id: r for r in await store.sharing.list_rules(carol.id)}
    by_type, by_tlp, by_publisher, by_sector = (stored[r.rule_id] for r in rules)

    async def with_rules(*inbound: StandingRule) -> set[str]:
        return await visible(store, as_reader(carol, inbound=inbound))

    assert await with_rules(by_type) == sids(pub_indicator, alice_indicator, bob_report, bob_amber)
    # objects without a TLP (audience markings) pass a TLP filter
    assert await with_rules(by_tlp) == sids(alice_malware, bob_report, marking)
    assert await with_rules(by_publisher) == sids(pub_indicator, alice_malware, alice_indicator)
    assert await with_rules(by_sector) == sids(
        alice_malware, alice_indicator, bob_report, marking, bob_amber
    )
    assert await with_rules(by_type, by_tlp, by_sector) == sids(bob_report)
    # a filter never widens: the RED object for Bob stays out of Carol's reach
    only_red = inbound_rule(carol, "tlp", "red")
    assert await with_rules(only_red) == sids(marking)


async def test_versions(store: Store, cast: dict[str, Member]) -> None:
    pub, alice, bob = cast["pub"], cast["alice"], cast["bob"]
    await add_members(store, pub, alice, bob)
    v3 = new_object(pub, version=ts(3), tlp=Tlp.AMBER, audience=(member_of(alice),))
    v1 = new_object(pub, stix_id=v3.stix_id, version=ts(1))
    v2 = new_object(pub, stix_id=v3.stix_id, version=ts(2))
    single = new_object(pub, version=ts(5))
    await insert(store, v3, v1, v2, single)  # stored out of version order
    x = v3.stix_id

    async def versions(who: Principal, *wanted: str) -> list[tuple[str, str]]:
        rows = await read(store, who, versions=wanted, ids=(x, single.stix_id))
        return sorted((o.stix_id, o.version) for o in rows)

    def of_x(*ns: int) -> list[tuple[str, str]]:
        return sorted([(x, ts(n)) for n in ns] + [(single.stix_id, ts(5))])

    a, b = as_reader(alice), as_reader(bob)
    assert await versions(a, "last") == of_x(3)
    assert await versions(a, "first") == of_x(1)
    assert await versions(a, "all") == of_x(1, 2, 3)
    assert await versions(a, "first", "last") == of_x(1, 3)
    # the latest version decides: Bob, outside v3's audience, reads no version of x
    only_single = [(single.stix_id, ts(5))]
    assert await versions(b, "last") == only_single
    assert await versions(b, "first") == only_single
    assert await versions(b, "all") == only_single
    # explicit versions
    assert await versions(a, ts(3), ts(1)) == sorted([(x, ts(1)), (x, ts(3))])
    assert await versions(b, ts(3)) == []
    assert await versions(b, ts(2), "first") == only_single
    assert await versions(b, ts(5)) == only_single
    # the default filter is "last"
    default = await store.objects.read_objects(
        b, ReadQuery(collection="bulletins", filter=ObjectFilter(ids=(x,)))
    )
    assert [o.version for o in default.objects] == []
    # once v3 is withdrawn, v2 (TLP:GREEN) is the latest and decides again
    withdrawn_v3 = await store.objects.delete_objects(x, [ts(3)], ts(9))
    assert withdrawn_v3 == 1
    assert await versions(b, "last") == of_x(2)
    assert await versions(b, "all") == of_x(1, 2)
    assert await versions(a, "all") == of_x(1, 2)

    assert await versions(a, "last") == of_x(2)
    await store.objects.delete_objects(x, [ts(1)], ts(9))
    assert await versions(b, "first") == of_x(2)

    # the reader's own inbound filter decides what "last" may be, too
    y2 = new_object(pub, version=ts(2), tlp=Tlp.AMBER, audience=(member_of(bob),))
    y1 = new_object(pub, stix_id=y2.stix_id, version=ts(1), tlp=Tlp.GREEN)
    await insert(store, y1, y2)
    green_only = as_reader(bob, inbound=[inbound_rule(bob, "tlp", "green")])
    rows = await read(store, green_only, ids=(y2.stix_id,), versions=("last",))
    assert [o.version for o in rows] == [ts(1)]


async def test_paging_yields_everything_once_and_more_is_exact(
    store: Store, cast: dict[str, Member]
) -> None:
    pub, alice, carol = cast["pub"], cast["alice"], cast["carol"]
    await add_members(store, pub, alice, carol)
    objects = []
    for i in range(22):
        if i % 3 == 0:
            objects.append(new_object(pub, tlp=Tlp.AMBER, audience=(member_of(carol),)))
        else:
            objects.append(new_object(pub, version=ts(1)))
    # a few objects get later versions, so "last" leaves earlier ones out
    for i in (1, 4, 7):
        objects.append(new_object(pub, stix_id=objects[i].stix_id, version=ts(2)))
    await insert(store, *objects)

    reader = as_reader(alice)
    everything = await read(store, reader)  # versions: last
    assert len(everything) == 22 - 8  # 8 for Carol only
    assert [o.seq for o in everything] == sorted(o.seq for o in everything)
    assert [o.date_added for o in everything] == sorted(o.date_added for o in everything)

    for limit in (1, 3, 7, 14, 15):
        seen: list[StoredObject] = []
        after = 0
        while True:
            page = await store.objects.read_objects(
                reader, ReadQuery(collection="bulletins", after_seq=after, limit=limit)
            )
            assert len(page.objects) <= limit
            seen.extend(page.objects)
            assert page.more == (len(seen) < len(everything)), (limit, len(seen))
            if not page.more:
                break
            assert len(page.objects) == limit  # pages are full until the last one
            after = page.objects[-1].seq
        assert seen == everything

    past_end = await store.objects.read_objects(
        reader, ReadQuery(collection="bulletins", after_seq=everything[-1].seq, limit=5)
    )
    assert past_end.objects == () and past_end.more is False
    with pytest.raises(InvalidInput):
        await store.objects.read_objects(reader, ReadQuery(collection="bulletins", limit=0))


async def test_filters(store: Store, cast: dict[str, Member]) -> None:
    pub, alice = cast["pub"], cast["alice"]
    await add_members(store, pub, alice)
    indicator = new_object(pub, type_="indicator")
    malware = new_object(pub, type_="malware")
    report = new_object(pub, type_="report")
    old_spec = new_object(pub, type_="indicator", spec_version="2.0")
    later = new_object(pub, type_="malware")
    await insert(store, indicator, malware, report, old_spec)
    await insert(store, later)
    reader = as_reader(alice)

    assert await visible(store, reader, ids=(malware.stix_id, report.stix_id)) == sids(
        malware, report
    )
    assert await visible(store, reader, ids=("indicator--unknown",)) == set()
    assert await visible(store, reader, types=("malware", "report")) == sids(malware, report, later)
    assert await visible(
        store, reader, types=("malware",), ids=(malware.stix_id, report.stix_id)
    ) == sids(malware)
    assert await visible(store, reader, spec_versions=("2.0",)) == sids(old_spec)
    assert await visible(store, reader, spec_versions=("2.1",)) == sids(
        indicator, malware, report, later
    )

    rows = await read(store, reader)
    stamp = {o.stix_id: o.date_added for o in rows}
    assert await visible(store, reader, added_after=stamp[malware.stix_id]) == sids(
        report, old_spec, later
    )
    assert await visible(store, reader, added_after=stamp[later.stix_id]) == set()
    assert await visible(store, reader, added_after=ts(-400)) == sids(
        indicator, malware, report, old_spec, later
    )

    assert {o.stix_id: o.body for o in rows} == {
        o.stix_id: o.body for o in (indicator, malware, report, old_spec, later)
    }
    bare = await read(store, reader, with_body=False)
    assert [o.body for o in bare] == [""] * 5
    assert [o.model_copy(update={"body": ""}) for o in rows] == bare
    first = rows[0]
    assert (first.stix_id, first.type, first.spec_version, first.version) == (
        indicator.stix_id,
        "indicator",
        "2.1",
        ts(0),
    )
    assert (first.author_identity, first.tlp) == (pub.identity, Tlp.GREEN)


async def test_read_agrees_with_explain(store: Store, cast: dict[str, Member]) -> None:
    """``policy.decide`` (explain, relays) and the store's query, both from the same decision
    table, decide alike."""
    pub, alice, bob, carol = cast["pub"], cast["alice"], cast["bob"], cast["carol"]
    await add_members(store, pub, alice, bob, carol)
    await store.sharing.add_rule(
        outbound_rule(pub, RuleEffect.DENY, "economy:US"), identity=pub.identity
    )
    objects = [
        new_object(pub, tlp=Tlp.CLEAR),
        new_object(pub, tlp=Tlp.GREEN),
        new_object(pub, tlp=Tlp.AMBER, audience=("economy:DE", "economy:US")),
        new_object(alice, tlp=Tlp.AMBER, audience=("kind:government",)),
        new_object(bob, tlp=Tlp.RED, audience=(member_of(carol), member_of(alice))),
        new_object(carol, tlp=Tlp.GREEN, audience=("sector:finance",)),
        new_object(carol, tlp=Tlp.CLEAR),
    ]
    await insert(store, *objects)
    outbound = {
        m.identity: [
            r for r in await store.sharing.list_rules(m.id) if r.direction is RuleDirection.OUTBOUND
        ]
        for m in cast.values()
    }
    readers = [ANONYMOUS, *(as_reader(m) for m in cast.values())]
    for reader in readers:
        seen = await visible(store, reader)
        for obj in objects:
            [facts] = await store.objects.object_facts(obj.stix_id)
            decision = policy.decide(
                policy.READS,
                policy.evidence(reader, facts, outbound=outbound[obj.author_identity or ""]),
            )
            assert decision.allowed == (obj.stix_id in seen), (reader.member, obj.stix_id, decision)


async def test_schema_version_reads_a_gap_as_behind_and_a_newer_release_as_ahead(
    store: Store,
) -> None:
    assert isinstance(store, SqlStore)
    current, expected = await store.schema_version()
    assert current == expected
    async with store.transaction(write=True) as tx:
        await tx.execute("DELETE FROM schema_version WHERE version = ?", (4,))
    assert await store.schema_version() == (3, expected)  # a migration missing: behind
    async with store.transaction(write=True) as tx:
        await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (4,))
        await tx.execute("INSERT INTO schema_version (version) VALUES (?)", (9999,))
    assert await store.schema_version() == (9999, expected)  # a newer release was here


async def test_audit_log_in_order_with_filters(store: Store) -> None:
    from exchange.models import AuditEntry, AuditOutcome

    entries = [
        AuditEntry(
            at="2026-01-01T00:00:00.000000Z",
            actor="admin:root",
            action="member add",
            target="m1",
            member="m1",
            details={"kind": "government"},
        ),
        AuditEntry(
            at="2026-01-02T00:00:00.000000Z",
            actor="address:127.0.0.1",
            action="authenticate",
            outcome=AuditOutcome.REFUSED,
            reason="unknown token",
        ),
        AuditEntry(
            at="2026-01-03T00:00:00.000000Z",
            actor="admin:root",
            action="member suspend",
            target="m1",
            member="m1",
        ),
    ]
    await store.audit.record_audit(entries[:2])
    await store.audit.record_audit(entries[2:])
    await store.audit.record_audit([])
    found = await store.audit.list_audit()
    assert [e.model_copy(update={"seq": None}) for e in found] == entries
    assert [e.seq for e in found] == sorted({e.seq for e in found})
    assert [e.action for e in await store.audit.list_audit(member="m1")] == [
        "member add",
        "member suspend",
    ]
    later = await store.audit.list_audit(since="2026-01-02T00:00:00.000000Z", limit=1)
    assert [e.reason for e in later] == ["unknown token"]
