"""The exchange through the OASIS TAXII 2.1 client (taxii2-client): every endpoint a member
tool uses, and every object served checked with stix2-validator."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests
from taxii2client.v21 import Server, as_pages

from tests.api.conftest import (
    MAX_CONTENT_LENGTH,
    TAXII_TS,
    api_root,
    collection,
    get,
    objects_url,
    parse,
    post_objects,
    ts,
    valid_objects,
    walk,
)
from tests.conftest import TAXII, TLP, LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

STIX = "application/stix+json;version=2.1"


@pytest.fixture
def author(make_member: Any) -> TestMember:
    member: TestMember = make_member("CERT-A")
    return member


def publish(server: LiveServer, member: TestMember, objects: list[dict[str, Any]]) -> None:
    status = post_objects(server, member.token, [member.sign(o) for o in objects])
    assert status["success_count"] == len(objects), status


def test_discovery_and_api_root(server: LiveServer, author: TestMember) -> None:
    discovery = Server(server.url + "/taxii2/", user="x", password=author.token)
    assert discovery.title
    assert discovery.default is not None
    assert discovery.default.url == server.api_root
    assert [r.url for r in discovery.api_roots] == [server.api_root]

    root = discovery.api_roots[0]
    assert root.title
    assert root.max_content_length == MAX_CONTENT_LENGTH
    assert root.versions == [TAXII]

    # Discovery and the API root answer anonymous clients too.
    anonymous = api_root(server)
    assert anonymous.max_content_length == MAX_CONTENT_LENGTH


def test_collections_member_and_anonymous(server: LiveServer, make_member: Any) -> None:
    writer = make_member("CERT-W")
    reader = make_member("CERT-R", read_only=True)

    listed = {c.alias: c for c in api_root(server, writer.token).collections}
    assert set(listed) == {"bulletins", "public"}
    assert listed["bulletins"].can_read and listed["bulletins"].can_write
    assert listed["public"].can_read and not listed["public"].can_write
    for c in listed.values():
        assert c.media_types == [STIX]
        assert c.title

    read_only = {c.alias: c for c in api_root(server, reader.token).collections}
    assert set(read_only) == {"bulletins", "public"}
    assert not read_only["bulletins"].can_write

    anonymous = api_root(server).collections
    assert [c.alias for c in anonymous] == ["public"]
    assert anonymous[0].id == listed["public"].id

    # A collection is found by id as well as by alias.
    by_id = get(server, f"collections/{listed['bulletins'].id}/", writer.token)
    assert by_id.status_code == 200
    assert by_id.json()["alias"] == "bulletins"


def test_add_objects_and_status_polling(server: LiveServer, author: TestMember) -> None:
    bulletins = collection(server, author.token)
    objects = [author.sign(indicator()) for _ in range(3)]
    status = bulletins.add_objects({"objects": objects}, wait_for_completion=False)
    assert status.id
    assert TAXII_TS.match(status.request_timestamp)
    status.refresh()
    status.wait_until_final(poll_interval=0.05, timeout=5)
    assert status.status == "complete"
    assert status.total_count == 3
    assert status.success_count == 3
    assert status.failure_count == 0
    assert status.pending_count == 0
    assert {s["id"] for s in status.successes} == {o["id"] for o in objects}
    assert {s["version"] for s in status.successes} == {o["modified"] for o in objects}

    again = api_root(server, author.token).get_status(status.id)
    assert again.id == status.id
    assert again.success_count == 3

    # The blocking form of add_objects returns a final status as well.
    done = bulletins.add_objects(
        {"objects": [author.sign(indicator())]}, poll_interval=0.05, timeout=5
    )
    assert done.status == "complete" and done.success_count == 1

    served = {o["id"] for o in valid_objects(bulletins.get_objects())}
    assert {o["id"] for o in objects} <= served


def test_paging_visits_every_object_once(server: LiveServer, author: TestMember) -> None:
    publish(
        server, author, [indicator() for _ in range(9)] + [indicator("clear") for _ in range(2)]
    )
    bulletins = collection(server, author.token)
    everything = valid_objects(bulletins.get_objects())
    ids = [o["id"] for o in everything]
    assert len(ids) == len(set(ids)) >= 11
    manifest_ids = [m["id"] for m in bulletins.get_manifest()["objects"]]
    assert manifest_ids == ids  # both sorted by date_added, ascending

    for per_request in (1, 2, 7):
        pages = list(as_pages(bulletins.get_objects, per_request=per_request))
        assert [o["id"] for o in walk(pages)] == ids
        assert all(len(p.get("objects", [])) <= per_request for p in pages)
        assert all(p["more"] and p["next"] for p in pages[:-1])
        assert not pages[-1]["more"] and "next" not in pages[-1]

        manifest = walk(as_pages(bulletins.get_manifest, per_request=per_request), stix=False)
        assert [m["id"] for m in manifest] == ids

    public = collection(server, author.token, "public")
    clear = walk(as_pages(public.get_objects, per_request=2))
    assert [o["id"] for o in clear] == [
        o["id"] for o in everything if TLP["clear"] in o.get("object_marking_refs", [])
    ]


def test_manifest_and_get_object(server: LiveServer, author: TestMember) -> None:
    obj = author.sign(indicator())
    publish(server, author, [obj])
    bulletins = collection(server, author.token)

    manifest = bulletins.get_manifest(id=obj["id"])
    assert manifest["more"] is False
    [record] = manifest["objects"]
    assert record["id"] == obj["id"]
    assert record["media_type"] == STIX
    assert TAXII_TS.match(record["date_added"])
    assert parse(record["version"]) == parse(obj["modified"])

    envelope = bulletins.get_object(obj["id"])
    [served] = valid_objects(envelope)
    assert served == obj


def test_object_versions(server: LiveServer, author: TestMember) -> None:
    base = indicator()
    created = parse(base["created"])
    versions = []
    for step in range(3):
        version = copy.deepcopy(base)
        version["modified"] = ts(created + timedelta(seconds=step))
        version["name"] = f"C2 server, revision {step}"
        versions.append(author.sign(version))
    # Posted newest first, one request each: every listing is in date_added order (TAXII 3.3),
    # while first/last go by the versions themselves.
    for version in reversed(versions):
        publish(server, author, [version])
    bulletins = collection(server, author.token)
    stamps = [v["modified"] for v in versions]
    added_order = list(reversed(stamps))

    listed = bulletins.object_versions(base["id"])
    assert listed["more"] is False
    assert [parse(v) for v in listed["versions"]] == [parse(s) for s in added_order]

    def served(**filters: Any) -> list[str]:
        return [o["modified"] for o in valid_objects(bulletins.get_object(base["id"], **filters))]

    assert served() == [stamps[-1]]
    assert served(version="last") == [stamps[-1]]
    assert served(version="first") == [stamps[0]]
    assert served(version="all") == added_order
    assert served(version=stamps[1]) == [stamps[1]]
    assert sorted(served(version=f"{stamps[0]},{stamps[2]}")) == [stamps[0], stamps[2]]
    assert sorted(served(version="first,last")) == [stamps[0], stamps[2]]
    assert served(version="first", spec_version="2.1") == [stamps[0]]

    # The objects and manifest endpoints take the same version filter.
    everything = valid_objects(bulletins.get_objects(id=base["id"], version="all"))
    assert [o["modified"] for o in everything] == added_order
    assert [o["modified"] for o in valid_objects(bulletins.get_objects(id=base["id"]))] == [
        stamps[-1]
    ]
    first = valid_objects(bulletins.get_objects(id=base["id"], version="first"))
    assert [o["modified"] for o in first] == [stamps[0]]
    manifest = bulletins.get_manifest(id=base["id"], version="all")["objects"]
    assert [parse(m["version"]) for m in manifest] == [parse(s) for s in added_order]

    paged = walk(as_pages(bulletins.object_versions, 1, base["id"]), "versions")
    assert [parse(v) for v in paged] == [parse(s) for s in added_order]


def test_filters(server: LiveServer, author: TestMember) -> None:
    first = [author.sign(indicator()) for _ in range(3)]
    publish(server, author, first)
    bulletins = collection(server, author.token)
    manifest = bulletins.get_manifest()["objects"]
    cut = next(m["date_added"] for m in manifest if m["id"] == first[-1]["id"])
    second = [author.sign(indicator()) for _ in range(2)]
    publish(server, author, second)

    # added_after: strictly after the given date_added.
    after = valid_objects(bulletins.get_objects(added_after=cut))
    assert [o["id"] for o in after] == [o["id"] for o in second]
    after_manifest = bulletins.get_manifest(added_after=cut)["objects"]
    assert [m["id"] for m in after_manifest] == [o["id"] for o in second]
    assert all(parse(m["date_added"]) > parse(cut) for m in after_manifest)

    # match[type], one value and several (OR).
    indicators = valid_objects(bulletins.get_objects(type="indicator"))
    assert {o["type"] for o in indicators} == {"indicator"}
    assert {o["id"] for o in first + second} <= {o["id"] for o in indicators}
    mixed = valid_objects(bulletins.get_objects(type=["indicator", "identity"]))
    assert {o["type"] for o in mixed} == {"indicator", "identity"}
    assert author.identity in {o["id"] for o in mixed}
    assert "objects" not in bulletins.get_objects(type="campaign")

    # match[id], one and several; ANDed with match[type].
    wanted = [first[0]["id"], second[1]["id"]]
    assert [o["id"] for o in valid_objects(bulletins.get_objects(id=wanted[0]))] == wanted[:1]
    assert [o["id"] for o in valid_objects(bulletins.get_objects(id=wanted))] == wanted
    assert "objects" not in bulletins.get_objects(id=wanted, type="identity")

    # match[spec_version]: everything here is 2.1.
    all_ids = [o["id"] for o in valid_objects(bulletins.get_objects())]
    assert [o["id"] for o in valid_objects(bulletins.get_objects(spec_version="2.1"))] == all_ids
    assert "objects" not in bulletins.get_objects(spec_version="2.0")
    assert "objects" not in bulletins.get_manifest(spec_version="2.0")


def test_bearer_and_basic_auth(server: LiveServer, author: TestMember) -> None:
    obj = author.sign(indicator())
    publish(server, author, [obj])
    bearer = get(server, "collections/bulletins/objects/", author.token)
    assert bearer.status_code == 200
    assert bearer.headers["Content-Type"] == TAXII
    assert obj["id"] in {o["id"] for o in valid_objects(bearer.json())}

    basic = requests.get(
        objects_url(server), auth=("anyone", author.token), headers={"Accept": TAXII}, timeout=30
    )
    assert basic.status_code == 200
    assert basic.content == bearer.content


def test_anonymous_public_reading(server: LiveServer, author: TestMember) -> None:
    clear, green = author.sign(indicator("clear")), author.sign(indicator("green"))
    publish(server, author, [clear, green])
    public = collection(server, None, "public")
    served = walk(as_pages(public.get_objects, per_request=2))
    ids = {o["id"] for o in served}
    assert clear["id"] in ids and green["id"] not in ids
    assert all(TLP["clear"] in o["object_marking_refs"] for o in served)
    [again] = valid_objects(public.get_object(clear["id"]))
    assert again == clear


def test_exchange_objects_are_valid_and_signed(server: LiveServer, author: TestMember) -> None:
    """The identities and extension definitions the exchange makes are valid STIX too."""
    served = valid_objects(collection(server, author.token).get_objects())
    types = {o["type"] for o in served}
    assert {"identity", "extension-definition"} <= types
    mine = next(o for o in served if o["id"] == author.identity)
    assert mine["created_by_ref"] != author.identity  # the exchange vouches for members
