"""The sharing rules through HTTP, one rule per test (docs/sharing.md).

Reads go through taxii2-client where a TAXII client would be used, and through plain
``requests`` where the status code or a header is the point.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.api.conftest import (
    assert_taxii_error,
    collection,
    failures,
    get,
    post_objects,
    restricted,
    successes,
    valid_objects,
)
from tests.conftest import (
    TLP,
    LiveServer,
    audience_marking,
    cli_json,
    indicator,
    relationship,
    run_cli,
    stamp,
)

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"


def ids(server: LiveServer, token: str | None, alias: str = "bulletins", **params: str) -> set[str]:
    """Every object id one reader sees in a collection (taxii2-client, all pages)."""
    coll = collection(server, token, alias)
    seen: set[str] = set()
    envelope = coll.get_objects(**params)
    while True:
        seen.update(o["id"] for o in valid_objects(envelope))
        if not envelope.get("more"):
            return seen
        envelope = coll.get_objects(next=envelope["next"], **params)


def readable(server: LiveServer, member: TestMember, stix_id: str) -> bool:
    """Object-by-id through taxii2-client: 200 or 404."""
    try:
        envelope = collection(server, member.token).get_object(stix_id)
    except requests.HTTPError as exc:
        assert exc.response is not None and exc.response.status_code == 404
        return False
    return [o["id"] for o in valid_objects(envelope)] == [stix_id]


def malware(tlp: str = "green", extra: tuple[str, ...] = ()) -> dict[str, Any]:
    now = stamp()
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": "Loader",
        "is_family": True,
        "object_marking_refs": [TLP[tlp], *extra],
    }


# --- TLP ------------------------------------------------------------------------------------


def test_clear_is_in_the_public_collection(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    clear, green = a.sign(indicator("clear")), a.sign(indicator("green"))
    assert successes(post_objects(server, a.token, [clear, green])) == {clear["id"], green["id"]}

    anonymous = ids(server, None, "public")
    assert clear["id"] in anonymous
    assert green["id"] not in anonymous
    # the public collection holds TLP:CLEAR only, also for members
    assert green["id"] not in ids(server, a.token, "public")
    assert clear["id"] in ids(server, a.token)  # and members read CLEAR in bulletins too
    [served] = valid_objects(collection(server, None, "public").get_object(clear["id"]))
    assert served == clear  # byte-for-byte as signed


def test_green_reaches_every_member_but_not_the_public(
    server: LiveServer, make_member: Any
) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B", kind="private", economy="FR")
    green = a.sign(indicator("green"))
    post_objects(server, a.token, [green])
    assert readable(server, b, green["id"])
    assert green["id"] not in ids(server, None, "public")
    anonymous = get(server, OBJECTS + green["id"] + "/", None)
    assert_taxii_error(anonymous, 401)
    assert_taxii_error(get(server, f"collections/public/objects/{green['id']}/", None), 404)


@pytest.mark.parametrize("tlp", ["amber", "amber+strict", "red"])
def test_amber_strict_and_red_need_an_audience(
    server: LiveServer, make_member: Any, tlp: str
) -> None:
    a = make_member("CERT-A")
    obj = a.sign(indicator(tlp))
    status = post_objects(server, a.token, [obj])
    assert status["success_count"] == 0
    assert "audience" in failures(status)[obj["id"]]
    assert not readable(server, a, obj["id"])


def test_red_audience_names_members_only(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    wide = a.sign(audience_marking([f"member:{b.identity}", "sector:government"]))
    narrow = a.sign(audience_marking([f"member:{b.identity}"]))
    refused = a.sign(indicator("red", extra_markings=(wide["id"],)))
    accepted = a.sign(indicator("red", extra_markings=(narrow["id"],)))
    status = post_objects(server, a.token, [wide, narrow, refused, accepted])
    assert "member" in failures(status)[refused["id"]]
    assert successes(status) == {wide["id"], narrow["id"], accepted["id"]}
    assert readable(server, b, accepted["id"])
    assert not readable(server, c, accepted["id"])  # same sector, not named


def test_one_audience_marking_per_object(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    m1 = a.sign(audience_marking([f"member:{b.identity}"]))
    m2 = a.sign(audience_marking(["economy:DE"]))
    obj = a.sign(indicator("amber", extra_markings=(m1["id"], m2["id"])))
    status = post_objects(server, a.token, [m1, m2, obj])
    assert "at most one audience" in failures(status)[obj["id"]]


def test_audience_marking_must_come_first(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    marking, obj = restricted(a, [f"member:{b.identity}"])
    status = post_objects(server, a.token, [obj, marking])  # marking after its user
    assert obj["id"] in failures(status)
    status = post_objects(server, a.token, [obj])  # now it is stored: accepted
    assert successes(status) == {obj["id"]}


# --- audiences -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["member", "group", "sector", "economy", "kind"])
def test_audience_by_entry(server: LiveServer, make_member: Any, entry: str) -> None:
    a = make_member("CERT-A", kind="government", sector="government", economy="DE")
    inside = make_member("Grid-Op", kind="private", sector="energy", economy="NL")
    outside = make_member("Bank", kind="government", sector="financial-services", economy="FR")
    cli_json("admin", "group", "create", "grid", "--db", a.db)
    cli_json("admin", "group", "add", "grid", inside.id, "--db", a.db)
    value = {
        "member": f"member:{inside.identity}",
        "group": "group:grid",
        "sector": "sector:energy",
        "economy": "economy:NL",
        "kind": "kind:private",
    }[entry]
    marking, amber = restricted(a, [value])
    green = a.sign(indicator("green", extra_markings=(marking["id"],)))
    status = post_objects(server, a.token, [marking, amber, green])
    assert status["success_count"] == 3, status
    for obj in (amber, green):  # an audience narrows GREEN just as it scopes AMBER
        assert readable(server, inside, obj["id"])
        assert not readable(server, outside, obj["id"])
        assert obj["id"] in ids(server, inside.token)
        assert obj["id"] not in ids(server, outside.token)


def test_group_membership_counts_from_the_next_request(
    server: LiveServer, make_member: Any
) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    cli_json("admin", "group", "create", "ministries", "--db", a.db)
    marking, obj = restricted(a, ["group:ministries"])
    post_objects(server, a.token, [marking, obj])
    assert not readable(server, b, obj["id"])
    cli_json("admin", "group", "add", "ministries", b.id, "--db", a.db)
    assert readable(server, b, obj["id"])


def test_clear_with_an_audience_is_not_public(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    obj = a.sign(indicator("clear", extra_markings=(marking["id"],)))
    post_objects(server, a.token, [marking, obj])
    assert obj["id"] not in ids(server, None, "public")
    assert readable(server, b, obj["id"])


# --- references ------------------------------------------------------------------------------


def test_relationship_withheld_when_an_end_is_unreadable(
    server: LiveServer, make_member: Any
) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking, secret = restricted(a, [f"member:{b.identity}"])
    family = a.sign(malware("green"))
    to_secret = a.sign(relationship(family["id"], secret["id"]))
    to_unheld = a.sign(relationship(family["id"], f"indicator--{uuid.uuid4()}"))
    status = post_objects(server, a.token, [marking, secret, family, to_secret, to_unheld])
    assert status["success_count"] == 5, status

    seen_b, seen_c = ids(server, b.token), ids(server, c.token)
    assert {to_secret["id"], to_unheld["id"], secret["id"]} <= seen_b
    assert to_secret["id"] not in seen_c and secret["id"] not in seen_c
    assert to_unheld["id"] in seen_c  # an end the exchange does not hold counts as readable
    assert not readable(server, c, to_secret["id"])
    assert readable(server, a, to_secret["id"])  # the publisher reads its own
    # a CLEAR relationship to a GREEN end is not public either
    clear_family = a.sign(malware("clear"))
    clear_rel = a.sign(relationship(clear_family["id"], family["id"], tlp="clear"))
    post_objects(server, a.token, [clear_family, clear_rel])
    public = ids(server, None, "public")
    assert clear_family["id"] in public and clear_rel["id"] not in public


def test_marking_definition_follows_the_objects_that_reference_it(
    server: LiveServer, make_member: Any
) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    post_objects(server, a.token, [marking])
    # not referenced yet: only its author reads it
    assert readable(server, a, marking["id"])
    assert not readable(server, b, marking["id"])
    obj = a.sign(indicator("amber", extra_markings=(marking["id"],)))
    post_objects(server, a.token, [obj])
    assert readable(server, b, marking["id"])
    assert not readable(server, c, marking["id"])
    assert marking["id"] in ids(server, b.token, type="marking-definition")
    assert marking["id"] not in ids(server, c.token, type="marking-definition")


def test_amber_strict_may_not_be_reposted(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    marking, strict = restricted(a, [f"member:{b.identity}"], tlp="amber+strict")
    post_objects(server, a.token, [marking, strict])
    assert readable(server, b, strict["id"])
    status = post_objects(server, b.token, [strict])
    assert "AMBER+STRICT" in failures(status)[strict["id"]]


def test_relay_of_a_relationship_needs_readable_ends(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking, secret = restricted(a, [f"member:{b.identity}"])
    family = a.sign(malware("green"))
    rel = a.sign(relationship(family["id"], secret["id"]))
    post_objects(server, a.token, [marking, secret, family])
    # C may not read the AMBER end, so it may not relay the (GREEN) relationship either
    status = post_objects(server, c.token, [rel])
    assert "sharing rules" in failures(status)[rel["id"]]
    # B may: the relay is stored under A's name, and C still does not see it
    assert successes(post_objects(server, b.token, [rel])) == {rel["id"]}
    assert readable(server, a, rel["id"]) and readable(server, b, rel["id"])
    assert not readable(server, c, rel["id"])


def test_publisher_reads_its_own(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A", economy="DE"), make_member("CERT-B", economy="FR")
    marking, obj = restricted(a, [f"member:{b.identity}"], tlp="red")
    post_objects(server, a.token, [marking, obj])
    # its own outbound rule does not hide its own objects from it either
    cli_json("admin", "rules", "outbound", a.id, "require", "economy:FR", "--db", a.db)
    assert readable(server, a, obj["id"])
    assert readable(server, a, marking["id"])
    assert readable(server, b, obj["id"])


def test_suspended_member_gets_401(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    obj = a.sign(indicator("green"))
    post_objects(server, a.token, [obj])
    assert readable(server, b, obj["id"])
    cli_json("admin", "member", "suspend", b.id, "--db", a.db)
    for path in ("collections/", OBJECTS, OBJECTS + obj["id"] + "/", "keys/"):
        assert_taxii_error(get(server, path, b.token), 401)
    with pytest.raises(requests.HTTPError) as caught:
        collection(server, b.token)
    assert caught.value.response is not None and caught.value.response.status_code == 401


def test_unreadable_object_is_404_like_a_missing_one(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking, obj = restricted(a, [f"member:{b.identity}"])
    post_objects(server, a.token, [marking, obj])
    missing = f"indicator--{uuid.uuid4()}"
    answers: dict[str, list[tuple[str, str]]] = {}
    for stix_id in (obj["id"], missing):
        for path in (OBJECTS + stix_id + "/", OBJECTS + stix_id + "/versions/"):
            body = assert_taxii_error(get(server, path, c.token), 404)
            answers.setdefault(stix_id, []).append(
                (body["title"], body.get("description", "").replace(stix_id, "ID"))
            )
        manifest = get(
            server, "collections/bulletins/manifest/", c.token, params={"match[id]": stix_id}
        )
        assert manifest.status_code == 200
        assert manifest.json() == {"more": False}  # listed nowhere, as if it did not exist
        deleted = requests.delete(
            server.api_root + OBJECTS + stix_id + "/",
            headers={
                "Accept": "application/taxii+json;version=2.1",
                "Authorization": f"Bearer {c.token}",
            },
            timeout=30,
        )
        assert_taxii_error(deleted, 404)
    assert answers[obj["id"]] == answers[missing]  # nothing tells the two apart
    # the reader it was meant for gets all three
    assert get(server, OBJECTS + obj["id"] + "/", b.token).status_code == 200
    assert get(server, OBJECTS + obj["id"] + "/versions/", b.token).json()["versions"]
    manifest = get(
        server, "collections/bulletins/manifest/", b.token, params={"match[id]": obj["id"]}
    ).json()
    assert [m["id"] for m in manifest["objects"]] == [obj["id"]]


# --- standing rules --------------------------------------------------------------------------


def test_outbound_require_takes_effect_on_the_next_request(
    server: LiveServer, make_member: Any
) -> None:
    a = make_member("CERT-A", economy="DE")
    de, fr = make_member("BSI", economy="DE"), make_member("ANSSI", economy="FR")
    green, clear = a.sign(indicator("green")), a.sign(indicator("clear"))
    post_objects(server, a.token, [green, clear])
    assert readable(server, fr, green["id"])

    rule = cli_json("admin", "rules", "outbound", a.id, "require", "economy:DE", "--db", a.db)
    assert rule["direction"] == "outbound" and rule["values"] == ["economy:DE"]
    assert not readable(server, fr, green["id"])
    assert green["id"] not in ids(server, fr.token)
    assert readable(server, de, green["id"])
    # CLEAR is narrowed too: the anonymous public matches no economy
    assert clear["id"] not in ids(server, None, "public")
    listed = cli_json("admin", "rules", "list", a.id, "--db", a.db)
    assert [r["rule_id"] for r in listed["rules"]] == [rule["rule_id"]]

    removed = cli_json("admin", "rules", "remove", rule["rule_id"], "--db", a.db)
    assert removed["removed"] is True
    assert readable(server, fr, green["id"])
    assert clear["id"] in ids(server, None, "public")


def test_outbound_deny(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    obj = a.sign(indicator("green"))
    post_objects(server, a.token, [obj])
    cli_json("admin", "rules", "outbound", a.id, "deny", f"member:{b.identity}", "--db", a.db)
    assert not readable(server, b, obj["id"])
    assert readable(server, c, obj["id"])
    # an outbound rule narrows an audience too; it never widens one
    marking, amber = restricted(a, [f"member:{b.identity}", f"member:{c.identity}"])
    post_objects(server, a.token, [marking, amber])
    assert not readable(server, b, amber["id"])
    assert readable(server, c, amber["id"])


def test_inbound_filter(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A", sector="energy"), make_member("CERT-B")
    ind = a.sign(indicator("green"))
    fam = a.sign(malware("green"))
    post_objects(server, a.token, [ind, fam])
    assert {ind["id"], fam["id"]} <= ids(server, b.token)

    rule = cli_json("admin", "rules", "inbound", b.id, "type", "indicator", "report", "--db", a.db)
    assert rule["direction"] == "inbound" and rule["field"] == "type"
    seen = ids(server, b.token)
    assert ind["id"] in seen and fam["id"] not in seen
    assert not readable(server, b, fam["id"])
    assert readable(server, a, fam["id"])  # a reader's filter is its own business
    cli_json("admin", "rules", "remove", rule["rule_id"], "--db", a.db)

    by_sector = cli_json(
        "admin", "rules", "inbound", b.id, "sector", "financial-services", "--db", a.db
    )
    assert not ({ind["id"], fam["id"]} & ids(server, b.token))
    cli_json("admin", "rules", "remove", by_sector["rule_id"], "--db", a.db)
    by_publisher = cli_json(
        "admin", "rules", "inbound", b.id, "publisher", a.identity, "--db", a.db
    )
    assert {ind["id"], fam["id"]} <= ids(server, b.token)
    cli_json("admin", "rules", "remove", by_publisher["rule_id"], "--db", a.db)

    # a TLP filter: "last" is the latest version left after the filter
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    v1 = a.sign(indicator("green"))
    v2 = a.sign(
        dict(
            {k: v for k, v in v1.items() if k != "extensions"},
            modified=stamp(),
            object_marking_refs=[TLP["amber"], marking["id"]],
        )
    )
    post_objects(server, a.token, [marking, v1, v2])
    assert [
        o["modified"] for o in valid_objects(collection(server, b.token).get_object(v1["id"]))
    ] == [v2["modified"]]
    cli_json("admin", "rules", "inbound", b.id, "tlp", "green", "clear", "--db", a.db)
    assert [
        o["modified"] for o in valid_objects(collection(server, b.token).get_object(v1["id"]))
    ] == [v1["modified"]]


def test_own_inbound_filter_does_not_stop_a_withdrawal(
    server: LiveServer, make_member: Any
) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    fam = a.sign(malware("green"))
    post_objects(server, a.token, [fam])
    cli_json("admin", "rules", "inbound", a.id, "type", "indicator", "--db", a.db)
    assert not readable(server, a, fam["id"])  # A filters out its own malware objects...
    headers = {"Accept": "application/taxii+json;version=2.1"}
    refused = requests.delete(
        server.api_root + OBJECTS + fam["id"] + "/",
        timeout=30,
        headers={**headers, "Authorization": f"Bearer {b.token}"},
    )
    assert_taxii_error(refused, 403)  # B reads it, but did not publish it
    withdrawn = requests.delete(
        server.api_root + OBJECTS + fam["id"] + "/",
        timeout=30,
        headers={**headers, "Authorization": f"Bearer {a.token}"},
    )
    assert withdrawn.status_code == 200, withdrawn.text  # ...but may still withdraw them
    assert not readable(server, b, fam["id"])


# --- the delivery ledger ---------------------------------------------------------------------


def wait_for_deliveries(
    server: LiveServer, token: str, stix_id: str, count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        response = get(server, "deliveries/", token, params={"id": stix_id})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["deliveries"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_deliveries(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking, obj = restricted(a, [f"member:{b.identity}", f"member:{c.identity}"])
    post_objects(server, a.token, [marking, obj])
    assert get(server, "deliveries/", a.token, params={"id": obj["id"]}).json() == {
        "id": obj["id"],
        "deliveries": [],
    }

    assert obj["id"] in ids(server, b.token)  # B pulls the collection
    assert readable(server, c, obj["id"])  # C fetches it by id
    found = wait_for_deliveries(server, a.token, obj["id"], 2)
    assert {d["member"] for d in found} == {b.id, c.id}
    version = valid_objects(collection(server, a.token).get_object(obj["id"]))[0]["modified"]
    assert all(d["version"].startswith(version[:-1]) for d in found)

    # the publisher only: anyone else gets 404 (as for an object that does not exist)
    for other in (b, c):
        assert_taxii_error(get(server, "deliveries/", other.token, params={"id": obj["id"]}), 404)
    assert_taxii_error(
        get(server, "deliveries/", a.token, params={"id": f"indicator--{uuid.uuid4()}"}), 404
    )
    assert_taxii_error(get(server, "deliveries/", None, params={"id": obj["id"]}), 401)
    assert_taxii_error(get(server, "deliveries/", a.token), 400)

    ledger = cli_json("admin", "deliveries", obj["id"], "--db", a.db)
    assert ledger["id"] == obj["id"]
    assert {d["member"] for d in ledger["deliveries"]} == {b.id, c.id}
    code, out, err = run_cli(
        "admin", "deliveries", f"indicator--{uuid.uuid4()}", "--db", a.db, "--json"
    )
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
