"""The seven leaks of the outside review (issue "One sharing policy"), each reproduced through
HTTP against a live exchange and shown refused or withheld, on SQLite and on PostgreSQL, on
every read path: objects (every ``match[version]``), manifest, versions, object by id, stream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.api.conftest import failures, get, post_objects, successes
from tests.api.test_stream import session, stream
from tests.conftest import (
    STORES,
    LiveServer,
    audience_marking,
    cli_json,
    fresh_database,
    indicator,
    stamp,
)

OBJECTS = "collections/bulletins/objects/"
MANIFEST = "collections/bulletins/manifest/"


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """Every test here runs on both stores (a fresh schema per test on PostgreSQL)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def code(status: dict[str, Any], stix_id: str) -> str:
    message = failures(status)[stix_id]
    assert message.startswith("["), message
    return message[1 : message.index("]")]


def norm(version: str | None) -> str:
    """A version as an instant (the exchange may give more sub-second digits)."""
    assert version is not None
    head, _, frac = version.rstrip("Z").partition(".")
    return f"{head}.{frac.ljust(6, '0')}Z"


def every_path(server: LiveServer, token: str, stix_id: str) -> dict[str, set[str]]:
    """What one reader is served of one object id, path by path (versions as text)."""
    seen: dict[str, set[str]] = {}
    for choice in ("last", "first", "all"):
        resp = get(server, OBJECTS, token, params={"match[id]": stix_id, "match[version]": choice})
        assert resp.status_code == 200, resp.text
        seen[f"objects:{choice}"] = {
            norm(o.get("modified", o.get("created"))) for o in resp.json().get("objects", [])
        }
    resp = get(server, MANIFEST, token, params={"match[id]": stix_id, "match[version]": "all"})
    seen["manifest"] = {norm(r["version"]) for r in resp.json().get("objects", [])}
    resp = get(server, OBJECTS + stix_id + "/", token, params={"match[version]": "all"})
    assert resp.status_code in (200, 404), resp.text
    seen["by-id"] = (
        {norm(o.get("modified", o.get("created"))) for o in resp.json().get("objects", [])}
        if resp.status_code == 200
        else set()
    )
    resp = get(server, OBJECTS + stix_id + "/versions/", token)
    assert resp.status_code in (200, 404), resp.text
    seen["versions"] = (
        {norm(v) for v in resp.json().get("versions", [])} if resp.status_code == 200 else set()
    )
    return seen


def sees_nothing(server: LiveServer, token: str, stix_id: str) -> None:
    assert all(not v for v in every_path(server, token, stix_id).values()), stix_id


def sees_something_everywhere(server: LiveServer, token: str, stix_id: str) -> None:
    paths = every_path(server, token, stix_id)
    assert all(paths.values()), paths


def later(obj: dict[str, Any], seconds: float, **props: Any) -> dict[str, Any]:
    """A copy of ``obj`` as a later version (to be signed again), with ``props`` changed."""
    when = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    out = dict(obj, **props)
    out["modified" if "modified" in obj else "created"] = when[:-3] + "Z"
    return out


# 1 ---------------------------------------------------------------------------------------


def test_an_audience_marking_cannot_change(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    energy = make_member("Grid-Op", kind="private", sector="energy")
    c = make_member("CERT-C")
    marking = a.sign(audience_marking(["sector:energy"]))
    assert successes(post_objects(server, a.token, [marking])) == {marking["id"]}
    narrowed = a.sign(
        later(
            marking,
            1,
            extensions={
                "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c": {
                    "extension_type": "property-extension",
                    "audience": [f"member:{c.identity}"],
                }
            },
        )
    )
    status = post_objects(server, a.token, [narrowed])
    assert code(status, marking["id"]) == "marking-immutable"
    # other bytes under the same id and version are refused too; identical bytes are not
    renamed = a.sign(dict(marking, name="renamed"))
    assert code(post_objects(server, a.token, [renamed]), marking["id"]) == "marking-immutable"
    assert successes(post_objects(server, a.token, [marking])) == {marking["id"]}

    amber = a.sign(indicator("amber", extra_markings=(marking["id"],)))
    assert successes(post_objects(server, a.token, [amber])) == {amber["id"]}
    sees_something_everywhere(server, energy.token, amber["id"])
    sees_nothing(server, c.token, amber["id"])
    # the marking definition is served as first stored, and only once
    resp = get(server, OBJECTS + marking["id"] + "/versions/", energy.token)
    assert [norm(v) for v in resp.json()["versions"]] == [norm(marking["created"])]


# 2 ---------------------------------------------------------------------------------------


def test_an_object_may_use_only_its_authors_audience_markings(
    server: LiveServer, make_member: Any
) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    marking = a.sign(audience_marking([f"member:{a.identity}"]))
    post_objects(server, a.token, [marking])
    borrowed = b.sign(indicator("green", extra_markings=(marking["id"],)))
    status = post_objects(server, b.token, [borrowed])
    assert code(status, borrowed["id"]) == "audience-foreign"
    sees_nothing(server, b.token, marking["id"])
    sees_nothing(server, b.token, borrowed["id"])
    # also when the foreign marking comes earlier in the same envelope (as a relay)
    mine = b.sign(audience_marking(["sector:government"]))
    also = b.sign(indicator("green", extra_markings=(mine["id"],)))
    assert successes(post_objects(server, b.token, [mine, also])) == {mine["id"], also["id"]}


# 3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["suspend", "revoke"])
async def test_streams_end_with_their_credentials(
    server: LiveServer, make_member: Any, how: str
) -> None:
    a, b = (
        await asyncio.to_thread(make_member, "CERT-A"),
        await asyncio.to_thread(make_member, "CERT-B"),
    )
    first, second = a.sign(indicator("green")), a.sign(indicator("green"))
    async with session() as http, stream(http, server, b.token) as s:
        await asyncio.to_thread(post_objects, server, a.token, [first])
        [event] = await s.objects(1)
        assert event.object["id"] == first["id"]
        if how == "suspend":
            await asyncio.to_thread(cli_json, "admin", "member", "suspend", b.id, "--db", b.db)
        else:
            await asyncio.to_thread(cli_json, "admin", "token", "revoke", b.token_id, "--db", b.db)
        await asyncio.to_thread(post_objects, server, a.token, [second])
        last = await s.next()
        assert last.event == "resume", last
        assert "credentials" in last.object["reason"]
    refused = await asyncio.to_thread(get, server, OBJECTS, b.token)
    assert refused.status_code == 401


# 4 ---------------------------------------------------------------------------------------


def test_a_suspended_authors_objects_are_refused_whoever_posts_them(
    server: LiveServer, make_member: Any
) -> None:
    b, d = make_member("CERT-B"), make_member("CERT-D")
    obj = d.sign(indicator("green"))
    cli_json("admin", "member", "suspend", d.id, "--db", d.db)
    status = post_objects(server, b.token, [obj])
    assert code(status, obj["id"]) == "author-suspended"
    sees_nothing(server, b.token, obj["id"])


# 5 ---------------------------------------------------------------------------------------


def test_key_revoke_since_withdraws_stored_objects(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    before = a.sign(indicator("green"))
    time.sleep(0.01)
    since = stamp()
    time.sleep(0.01)
    after = a.sign(indicator("green"))
    assert successes(post_objects(server, a.token, [before, after])) == {before["id"], after["id"]}
    sees_something_everywhere(server, b.token, after["id"])
    [key] = cli_json("admin", "key", "list", a.id, "--db", a.db)["keys"]
    cli_json("admin", "key", "revoke", key["key_id"], "--since", since, "--db", a.db)
    for reader in (a, b):
        sees_nothing(server, reader.token, after["id"])
        sees_something_everywhere(server, reader.token, before["id"])


# 6 ---------------------------------------------------------------------------------------


def test_the_latest_version_decides_who_reads(server: LiveServer, make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    wide = a.sign(indicator("green"))
    post_objects(server, a.token, [wide])
    sees_something_everywhere(server, b.token, wide["id"])
    only_c = a.sign(audience_marking([f"member:{c.identity}"]))
    narrow = a.sign(
        later(
            wide,
            1,
            object_marking_refs=[
                "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
                only_c["id"],
            ],
        )
    )
    status = post_objects(server, a.token, [only_c, narrow])
    assert successes(status) == {only_c["id"], wide["id"]}, status
    sees_nothing(server, b.token, wide["id"])
    # not even the old version asked for by its own timestamp
    for path in (OBJECTS, MANIFEST):
        resp = get(
            server,
            path,
            b.token,
            params={"match[id]": wide["id"], "match[version]": wide["modified"]},
        )
        assert not resp.json().get("objects"), resp.text
    resp = get(
        server, OBJECTS + wide["id"] + "/", b.token, params={"match[version]": wide["modified"]}
    )
    assert resp.status_code == 404, resp.text
    assert every_path(server, c.token, wide["id"])["versions"] == {
        norm(wide["modified"]),
        norm(narrow["modified"]),
    }
    # withdrawing the narrow version gives the wide one back
    resp = get(server, OBJECTS + wide["id"] + "/", a.token)
    assert resp.status_code == 200
    deleted = requests.delete(
        f"{server.api_root}{OBJECTS}{wide['id']}/",
        params={"match[version]": narrow["modified"]},
        headers={
            "Authorization": f"Bearer {a.token}",
            "Accept": "application/taxii+json;version=2.1",
        },
        timeout=10,
    )
    assert deleted.status_code == 200, deleted.text
    sees_something_everywhere(server, b.token, wide["id"])


# 7 ---------------------------------------------------------------------------------------


def _opaque(cursor: str) -> None:
    assert not cursor.isdigit()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        return
    assert b'"p"' not in raw and b'"f"' not in raw, raw
    with pytest.raises(ValueError):
        json.loads(raw)


async def test_cursors_reveal_nothing(server: LiveServer, make_member: Any) -> None:
    a = await asyncio.to_thread(make_member, "CERT-A")
    clear = [a.sign(indicator("clear")) for _ in range(3)]
    greens = [a.sign(indicator("green")) for _ in range(5)]
    async with session() as http, stream(http, server, None, collection="public") as s:
        for envelope in ([clear[0]], greens, [clear[1]]):
            await asyncio.to_thread(post_objects, server, a.token, envelope)
        one, two = await s.objects(2)
        assert [one.object["id"], two.object["id"]] == [clear[0]["id"], clear[1]["id"]]
        for event in (one, two):
            assert event.id is not None
            _opaque(event.id)
        assert len(one.id or "") == len(two.id or "")
    # resuming from an event id works, and loses nothing
    await asyncio.to_thread(post_objects, server, a.token, [clear[2]])
    async with (
        session() as http,
        stream(http, server, None, collection="public", last_event_id=two.id) as s,
    ):
        [three] = await s.objects(1)
        assert three.object["id"] == clear[2]["id"]
    resp = await asyncio.to_thread(get, server, "collections/public/objects/", None, {"limit": "1"})
    body = resp.json()
    assert body["more"] is True
    _opaque(body["next"])
    # a forged or foreign cursor is refused
    forged = await asyncio.to_thread(
        get, server, "collections/public/objects/", None, {"next": str(uuid.uuid4())}
    )
    assert forged.status_code == 400
