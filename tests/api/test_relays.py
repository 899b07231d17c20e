"""Relays of another member's signed objects, and withdrawal (DELETE) by the publisher."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests

from exchange.crypto import verify_object_signature
from tests.api.conftest import (
    assert_taxii_error,
    bearer,
    collection,
    failures,
    get,
    parse,
    post_objects,
    restricted,
    successes,
    ts,
    valid_objects,
)
from tests.conftest import TAXII, LiveServer, indicator

OBJECTS = "collections/bulletins/objects/"
MANIFEST = "collections/bulletins/manifest/"


def delete(
    server: LiveServer, token: str | None, stix_id: str, params: dict[str, str] | None = None
) -> requests.Response:
    return requests.delete(
        server.api_root + OBJECTS + stix_id + "/",
        params=params,
        headers={"Accept": TAXII, **bearer(token)},
        timeout=30,
    )


def visible(server: LiveServer, token: str | None, stix_id: str) -> dict[str, bool]:
    """Where ``stix_id`` shows for one reader: object, versions, objects list, manifest."""
    base = "collections/public/" if token is None else "collections/bulletins/"
    one = get(server, base + "objects/" + stix_id + "/", token)
    versions = get(server, base + "objects/" + stix_id + "/versions/", token)
    assert one.status_code in (200, 404) and versions.status_code in (200, 404)
    listed = get(server, base + "objects/", token, params={"match[version]": "all"}).json()
    manifest = get(server, base + "manifest/", token, params={"match[version]": "all"}).json()
    return {
        "object": one.status_code == 200,
        "versions": versions.status_code == 200,
        "objects": stix_id in {o["id"] for o in valid_objects(listed)},
        "manifest": stix_id in {m["id"] for m in manifest.get("objects", [])},
    }


def test_relay_of_green_and_clear(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    green, clear = a.sign(indicator("green")), a.sign(indicator("clear"))

    # B relays A's objects, unchanged, before A posted them anywhere here.
    status = post_objects(server, b.token, [green, clear])
    assert successes(status) == {green["id"], clear["id"]}, status
    for reader in (a, c):
        [served] = valid_objects(get(server, OBJECTS + green["id"] + "/", reader.token).json())
        assert served == green
        assert served["created_by_ref"] == a.identity
        verify_object_signature(served, a.key.public)
    assert visible(server, None, clear["id"])["object"]

    # A posting the same bytes later is told they are stored already.
    again = post_objects(server, a.token, [green])
    assert successes(again) == {green["id"]}
    assert again["successes"][0].get("message") == "stored already"

    # A relay is A's object still: A may withdraw it, B (the relayer) may not.
    assert_taxii_error(delete(server, b.token, green["id"]), 403)
    assert delete(server, a.token, green["id"]).status_code == 200


def test_relays_refused_beyond_green(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    audience = [f"member:{b.identity}", f"member:{c.identity}"]
    strict_marking, strict = restricted(a, audience, tlp="amber+strict")
    amber_marking, amber = restricted(a, audience, tlp="amber")
    narrow_marking, narrow = restricted(a, [f"member:{c.identity}"], tlp="green")
    status = post_objects(
        server, a.token, [strict_marking, strict, amber_marking, amber, narrow_marking, narrow]
    )
    assert status["failure_count"] == 0, status

    # B may read the AMBER+STRICT and AMBER objects, but may not re-post them.
    for obj in (strict, amber):
        [served] = valid_objects(get(server, OBJECTS + obj["id"] + "/", b.token).json())
        assert served == obj
    relayed = post_objects(server, b.token, [strict, amber, narrow])
    assert relayed["success_count"] == 0
    refused = failures(relayed)
    assert "AMBER+STRICT" in refused[strict["id"]]
    assert "CLEAR" in refused[amber["id"]] and "GREEN" in refused[amber["id"]]
    assert "read" in refused[narrow["id"]]
    # Changed objects would not verify, unchanged ones are refused: nothing new is stored.
    assert not visible(server, b.token, narrow["id"])["object"]

    # A fresh AMBER+STRICT object of A, first posted by B, is refused as well.
    fresh = a.sign(indicator("amber+strict", extra_markings=(strict_marking["id"],)))
    refused = failures(post_objects(server, b.token, [fresh]))
    assert "AMBER+STRICT" in refused[fresh["id"]]
    assert not visible(server, a.token, fresh["id"])["object"]


def test_delete_by_publisher_withdraws_everywhere(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    green, clear = a.sign(indicator("green")), a.sign(indicator("clear"))
    marking, amber = restricted(a, [f"member:{b.identity}"])
    post_objects(server, a.token, [green, clear, marking, amber])

    # Another member that may read it: 403; one that may not: 404; anonymous: 401.
    assert_taxii_error(delete(server, b.token, green["id"]), 403)
    assert_taxii_error(delete(server, b.token, amber["id"]), 403)
    assert_taxii_error(delete(server, c.token, amber["id"]), 404)
    assert_taxii_error(delete(server, None, green["id"]), 401)
    # The public collection is read-only, for the publisher too.
    response = requests.delete(
        server.api_root + "collections/public/objects/" + clear["id"] + "/",
        headers={"Accept": TAXII, **bearer(a.token)},
        timeout=30,
    )
    assert response.status_code in (403, 405)
    assert response.headers["Content-Type"] == TAXII
    for reader in (a, b, c):
        assert visible(server, reader.token, green["id"]) == dict.fromkeys(
            ("object", "versions", "objects", "manifest"), True
        )

    for obj in (green, clear, amber):
        response = delete(server, a.token, obj["id"])
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == TAXII

    nowhere = dict.fromkeys(("object", "versions", "objects", "manifest"), False)
    for obj in (green, clear, amber):
        for reader in (a, b, c):
            assert visible(server, reader.token, obj["id"]) == nowhere, (obj["id"], reader.name)
            assert_taxii_error(get(server, OBJECTS + obj["id"] + "/", reader.token), 404)
        assert visible(server, None, obj["id"]) == nowhere
        assert_taxii_error(delete(server, a.token, obj["id"]), 404)


def test_delete_one_version_and_through_the_client(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    first = a.sign(indicator())
    later = ts(parse(first["modified"]) + timedelta(seconds=1))
    second = a.sign(dict(first, modified=later, name="revised"))
    assert post_objects(server, a.token, [first, second])["success_count"] == 2

    response = delete(server, a.token, first["id"], {"match[version]": second["modified"]})
    assert response.status_code == 200
    [left] = valid_objects(
        get(server, OBJECTS + first["id"] + "/", b.token, params={"match[version]": "all"}).json()
    )
    assert left == first

    collection(server, a.token).delete_object(first["id"])
    assert_taxii_error(get(server, OBJECTS + first["id"] + "/", a.token), 404)
