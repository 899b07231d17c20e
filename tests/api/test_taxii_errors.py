"""TAXII 2.1 over raw HTTP: every error status with its TAXII error body, the date_added
headers, paging, and stateless cursors that survive a restart."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from tests.api.conftest import (
    MAX_CONTENT_LENGTH,
    TAXII_TS,
    Restartable,
    assert_taxii_error,
    bearer,
    failures,
    get,
    objects_url,
    parse,
    post_objects,
    post_raw,
    restricted,
    ts,
    valid_objects,
)
from tests.conftest import TAXII, LiveServer, cli_json, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"
MANIFEST = "collections/bulletins/manifest/"


def publish(server: LiveServer, member: TestMember, objects: list[dict[str, Any]]) -> None:
    status = post_objects(server, member.token, [member.sign(o) for o in objects])
    assert status["success_count"] == len(objects), status


def date_added(server: LiveServer, token: str, **params: str) -> list[tuple[str, str, str]]:
    """(id, version, date_added) of every manifest record matching ``params``."""
    query = {f"match[{k}]" if k != "added_after" else k: v for k, v in params.items()}
    response = get(server, MANIFEST, token, params=query)
    assert response.status_code == 200, response.text
    return [(m["id"], m["version"], m["date_added"]) for m in response.json().get("objects", [])]


# --- 401 -------------------------------------------------------------------------------------


def test_401_without_or_with_bad_credentials(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    for path in (OBJECTS, MANIFEST, "collections/bulletins/", "keys/", f"status/{uuid.uuid4()}/"):
        body = assert_taxii_error(get(server, path), 401)
        assert body["title"]
    bad: list[dict[str, str]] = [
        bearer("exk_not-a-token"),
        {"Authorization": "Basic " + base64.b64encode(b"x:exk_wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"just-a-user").decode()},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Digest username=x"},
        {"Authorization": "Bearer " + member.token + "x"},
    ]
    for headers in bad:
        for path in (OBJECTS, "collections/public/objects/", "collections/", ""):
            assert_taxii_error(get(server, path, headers=headers), 401)
    # The discovery endpoint too refuses bad credentials rather than ignoring them.
    assert_taxii_error(get(server, "/taxii2/", "exk_not-a-token"), 401)
    response = post_raw(server, "exk_not-a-token", json.dumps({"objects": []}))
    assert_taxii_error(response, 401)
    # A POST without credentials is asked to authenticate, not told it may not write.
    assert_taxii_error(post_raw(server, None, json.dumps({"objects": []})), 401)


def test_401_expired_revoked_and_suspended(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    db = member.db
    short = cli_json("admin", "token", "issue", member.id, "--ttl", "1s", "--db", db)
    assert get(server, OBJECTS, short["token"]).status_code == 200
    revoked = cli_json("admin", "token", "issue", member.id, "--db", db)
    assert get(server, OBJECTS, revoked["token"]).status_code == 200

    out = cli_json("admin", "token", "revoke", revoked["token_id"], "--db", db)
    assert out["revoked"]
    assert_taxii_error(get(server, OBJECTS, revoked["token"]), 401)
    assert get(server, OBJECTS, member.token).status_code == 200  # other tokens still work

    time.sleep(max(0.0, (parse(short["expires"]) - datetime.now(UTC)).total_seconds()) + 0.2)
    assert_taxii_error(get(server, OBJECTS, short["token"]), 401)
    assert_taxii_error(get(server, "collections/public/objects/", short["token"]), 401)

    cli_json("admin", "member", "suspend", member.id, "--db", db)
    assert_taxii_error(get(server, OBJECTS, member.token), 401)
    assert_taxii_error(get(server, "collections/public/objects/", member.token), 401)
    assert_taxii_error(
        requests.get(
            objects_url(server), auth=("x", member.token), headers={"Accept": TAXII}, timeout=30
        ),
        401,
    )
    assert_taxii_error(post_raw(server, member.token, json.dumps({"objects": []})), 401)


# --- 403 -------------------------------------------------------------------------------------


def test_403_read_only_token_and_public_collection(server: LiveServer, make_member: Any) -> None:
    writer = make_member()
    reader = make_member(read_only=True)
    obj = writer.sign(indicator())
    envelope = json.dumps({"objects": [obj]})

    body = assert_taxii_error(post_raw(server, reader.token, envelope), 403)
    assert "read-only" in body.get("description", "")
    assert_taxii_error(post_raw(server, writer.token, envelope, collection="public"), 403)
    assert_taxii_error(post_raw(server, None, envelope, collection="public"), 403)

    # Nothing was stored by the refused requests.
    assert_taxii_error(get(server, OBJECTS + obj["id"] + "/", writer.token), 404)

    # A read-only token of the publisher may read but not delete.
    publish(server, writer, [obj])
    read_only = cli_json("admin", "token", "issue", writer.id, "--read-only", "--db", writer.db)
    assert get(server, OBJECTS + obj["id"] + "/", read_only["token"]).status_code == 200
    response = requests.delete(
        server.api_root + OBJECTS + obj["id"] + "/",
        headers={"Accept": TAXII, **bearer(read_only["token"])},
        timeout=30,
    )
    assert_taxii_error(response, 403)
    assert get(server, OBJECTS + obj["id"] + "/", writer.token).status_code == 200


# --- 404 -------------------------------------------------------------------------------------


def test_404_unknown_collection_and_route(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    for path in (
        "collections/nope/",
        "collections/nope/objects/",
        "collections/nope/manifest/",
        f"collections/{uuid.uuid4()}/objects/",
        f"status/{uuid.uuid4()}/",
        "nope/",
        "/nope",
        "/taxii2/nope/",
        "/api/v2/",
    ):
        assert_taxii_error(get(server, path, member.token), 404)
    assert_taxii_error(get(server, "collections/nope/objects/"), 404)
    response = post_raw(server, member.token, json.dumps({"objects": []}), collection="nope")
    assert_taxii_error(response, 404)

    response = requests.put(
        objects_url(server),
        data=b"{}",
        timeout=30,
        headers={"Accept": TAXII, "Content-Type": TAXII, **bearer(member.token)},
    )
    assert_taxii_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_404_hidden_object_looks_like_a_missing_one(server: LiveServer, make_member: Any) -> None:
    author, audience, outsider = make_member(), make_member(), make_member()
    marking, hidden = restricted(author, [f"member:{audience.identity}"])
    post_objects(server, author.token, [marking, hidden])
    missing = f"indicator--{uuid.uuid4()}"

    for reader in (author, audience):
        assert get(server, OBJECTS + hidden["id"] + "/", reader.token).status_code == 200

    for suffix in ("/", "/versions/"):
        seen = get(server, OBJECTS + hidden["id"] + suffix, outsider.token)
        absent = get(server, OBJECTS + missing + suffix, outsider.token)
        one = assert_taxii_error(seen, 404)
        other = assert_taxii_error(absent, 404)
        one.pop("error_id", None)
        other.pop("error_id", None)
        assert json.dumps(one).replace(hidden["id"], "ID") == json.dumps(other).replace(
            missing, "ID"
        )
        assert set(seen.headers) == set(absent.headers)
    # Nor does it show in listings.
    listed = get(server, OBJECTS, outsider.token, params={"match[id]": hidden["id"]}).json()
    assert "objects" not in listed
    assert (
        "objects"
        not in get(server, MANIFEST, outsider.token, params={"match[id]": marking["id"]}).json()
    )


# --- 406 / 415 / 413 -------------------------------------------------------------------------


def test_406_and_accepted_media_types(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    for accept in (
        "text/html",
        "application/xml",
        "application/taxii+json;version=2.0",
        "application/stix+json;version=2.1",
        "application/taxii+json;q=0",
    ):
        for path in (OBJECTS, "/taxii2/", "", "collections/"):
            response = get(server, path, member.token, headers={"Accept": accept})
            assert_taxii_error(response, 406)
    envelope = json.dumps({"objects": [member.sign(indicator())]})
    response = post_raw(server, member.token, envelope, headers={"Accept": "text/html"})
    assert_taxii_error(response, 406)
    for accept in (
        "application/taxii+json",
        TAXII,
        "application/taxii+json; version=2.1",
        "text/html, application/taxii+json;q=0.5",
        "*/*",
    ):
        response = get(server, OBJECTS, member.token, headers={"Accept": accept})
        assert response.status_code == 200, (accept, response.text)
        assert response.headers["Content-Type"] == TAXII


def test_415_content_types(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    envelope = json.dumps({"objects": [member.sign(indicator())]})
    for content_type in (
        "application/json",
        "text/plain",
        "application/stix+json;version=2.1",
        "application/taxii+json;version=2.0",
    ):
        response = post_raw(server, member.token, envelope, content_type=content_type)
        assert_taxii_error(response, 415)
    response = post_raw(server, member.token, envelope, content_type="application/taxii+json")
    assert response.status_code == 202, response.text


def test_413_content_length_and_chunked(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    filler = "x" * 2048
    objects = [member.sign(indicator(description=filler)) for _ in range(140)]
    body = json.dumps({"objects": objects}).encode("utf-8")
    assert len(body) > MAX_CONTENT_LENGTH

    response = post_raw(server, member.token, body)
    assert_taxii_error(response, 413)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = post_raw(server, member.token, chunks())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert_taxii_error(response, 413)

    # Nothing of either request was stored; a body just under the limit is accepted.
    assert (
        "objects"
        not in get(server, OBJECTS, member.token, params={"match[id]": objects[0]["id"]}).json()
    )
    fits = objects[:20]
    small = json.dumps({"objects": fits}).encode("utf-8")
    assert len(small) < MAX_CONTENT_LENGTH
    response = post_raw(server, member.token, iter([small]))
    assert response.status_code == 202, response.text
    assert response.json()["success_count"] == len(fits)


# --- 400 -------------------------------------------------------------------------------------


def test_400_bad_envelopes(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    good = json.dumps(member.sign(indicator()))
    for body in (
        '{"objects": [',
        "not json",
        "",
        "{}",
        '{"more": false}',
        '{"objects": {}}',
        '{"objects": [' + good + "]} trailing",
        '{"objects": [], "objects": []}',
        b'{"objects": ["\xff"]}',
    ):
        response = post_raw(server, member.token, body)
        assert_taxii_error(response, 400)
    # JSON that is not an envelope object at all (docs/taxii.md: 422).
    for body in ("[]", '"objects"', "[" + good + "]"):
        assert_taxii_error(post_raw(server, member.token, body), 422)
    assert (
        "objects"
        not in get(
            server, OBJECTS, member.token, params={"match[id]": json.loads(good)["id"]}
        ).json()
    )


def test_400_bad_query_parameters(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    obj = member.sign(indicator())
    publish(server, member, [obj])
    bad: list[dict[str, str]] = [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"added_after": "yesterday"},
        {"added_after": "2026-13-01T00:00:00Z"},
        {"added_after": "2026-01-01"},
        {"added_after": "2026-01-01T00:00:00+01:00"},
        {"match[version]": "yesterday"},
        {"match[id]": "nope"},
        {"match[spec_version]": "two"},
        {"next": "bm9wZQ"},
        {"next": "%%%"},
    ]
    for params in bad:
        for path in (OBJECTS, MANIFEST):
            assert_taxii_error(get(server, path, member.token, params=params), 400)
        assert_taxii_error(get(server, "collections/public/objects/", params=params), 400)
    for params in ({"limit": "0"}, {"added_after": "nope"}, {"match[spec_version]": "x"}):
        path = OBJECTS + obj["id"] + "/versions/"
        assert_taxii_error(get(server, path, member.token, params=params), 400)


def test_400_tampered_or_foreign_next_cursor(server: LiveServer, make_member: Any) -> None:
    member, other = make_member(), make_member()
    publish(server, member, [indicator("clear") for _ in range(3)])
    page = get(server, OBJECTS, member.token, params={"limit": "1"}).json()
    cursor = page["next"]
    assert page["more"] is True

    # Tampered: flip one character anywhere in the cursor.
    # (Not the last character: its low bits may be padding that decodes to the same bytes.)
    for index in (0, len(cursor) // 3, len(cursor) // 2, len(cursor) - 2):
        flipped = "A" if cursor[index] != "A" else "B"
        tampered = cursor[:index] + flipped + cursor[index + 1 :]
        response = get(server, OBJECTS, member.token, params={"next": tampered})
        assert_taxii_error(response, 400)

    # Issued for another collection, another endpoint or another member.
    public_page = get(
        server, "collections/public/objects/", member.token, params={"limit": "1"}
    ).json()
    assert public_page["more"] is True
    for path, token, foreign in (
        ("collections/public/objects/", member.token, cursor),
        (OBJECTS, member.token, public_page["next"]),
        (MANIFEST, member.token, cursor),
        (OBJECTS, other.token, cursor),
    ):
        assert_taxii_error(get(server, path, token, params={"next": foreign}), 400)

    # The genuine cursor still works.
    response = get(server, OBJECTS, member.token, params={"next": cursor, "limit": "1"})
    assert response.status_code == 200
    assert valid_objects(response.json())


# --- status ----------------------------------------------------------------------------------


def test_status_only_for_its_poster(server: LiveServer, make_member: Any) -> None:
    poster, other = make_member(), make_member()
    status = post_objects(server, poster.token, [poster.sign(indicator())])
    path = f"status/{status['id']}/"
    mine = get(server, path, poster.token)
    assert mine.status_code == 200
    assert mine.headers["Content-Type"] == TAXII
    assert mine.json() == status
    assert TAXII_TS.match(status["request_timestamp"])

    theirs = assert_taxii_error(get(server, path, other.token), 404)
    nothing = assert_taxii_error(get(server, f"status/{uuid.uuid4()}/", other.token), 404)
    assert theirs["title"] == nothing["title"]
    assert_taxii_error(get(server, path), 401)


# --- headers, date_added, paging -------------------------------------------------------------


def test_date_added_headers_and_precision(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    objects = [member.sign(indicator()) for _ in range(5)]
    post_objects(server, member.token, objects)
    ids = [o["id"] for o in objects]

    # Within one POST: distinct, increasing, in envelope order, microsecond precision.
    records = date_added(server, member.token, id=",".join(ids))
    assert [r[0] for r in records] == ids
    stamps = [r[2] for r in records]
    assert all(TAXII_TS.match(s) and len(s) == 27 for s in stamps)
    assert len(set(stamps)) == len(stamps)
    assert [parse(s) for s in stamps] == sorted(parse(s) for s in stamps)

    added = {r[0]: r[2] for r in date_added(server, member.token)}
    for path in (OBJECTS, MANIFEST):
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "2", **({"next": cursor} if cursor else {})}
            response = get(server, path, member.token, params=params)
            assert response.status_code == 200
            body = response.json()
            entries = body.get("objects", [])
            assert entries
            first = response.headers["X-TAXII-Date-Added-First"]
            last = response.headers["X-TAXII-Date-Added-Last"]
            assert TAXII_TS.match(first) and TAXII_TS.match(last)
            assert first == added[entries[0]["id"]]
            assert last == added[entries[-1]["id"]]
            if path == MANIFEST:
                assert entries[0]["date_added"] == first
                assert entries[-1]["date_added"] == last
            pages += 1
            if not body["more"]:
                assert "next" not in body
                break
            cursor = body["next"]
        assert pages == (len(added) + 1) // 2

    # The single-object and versions endpoints carry the headers too.
    one = get(server, OBJECTS + ids[2] + "/", member.token)
    assert one.headers["X-TAXII-Date-Added-First"] == added[ids[2]]
    assert one.headers["X-TAXII-Date-Added-Last"] == added[ids[2]]


def test_versions_headers(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    base = indicator()
    created = parse(base["created"])
    versions = []
    for step in range(3):
        version = copy.deepcopy(base)
        version["modified"] = ts(created + timedelta(seconds=step))
        versions.append(member.sign(version))
        post_objects(server, member.token, [versions[-1]])
    records = date_added(server, member.token, id=base["id"], version="all")
    assert len(records) == 3
    by_version = {parse(r[1]): r[2] for r in records}

    path = OBJECTS + base["id"] + "/versions/"
    response = get(server, path, member.token)
    listed = response.json()["versions"]
    assert response.headers["X-TAXII-Date-Added-First"] == by_version[parse(listed[0])]
    assert response.headers["X-TAXII-Date-Added-Last"] == by_version[parse(listed[-1])]

    page = get(server, path, member.token, params={"limit": "2"})
    body = page.json()
    assert body["more"] is True and body["next"]
    assert len(body["versions"]) == 2
    assert page.headers["X-TAXII-Date-Added-Last"] == by_version[parse(body["versions"][-1])]
    rest = get(server, path, member.token, params={"limit": "2", "next": body["next"]}).json()
    assert rest["more"] is False
    assert body["versions"] + rest["versions"] == listed

    # added_after on the versions endpoint: the versions added after the first one.
    after = get(
        server,
        path,
        member.token,
        params={"added_after": response.headers["X-TAXII-Date-Added-First"]},
    ).json()
    assert after["versions"] == listed[1:]

    # All versions of the object page by date_added too.
    everything = get(
        server,
        OBJECTS + base["id"] + "/",
        member.token,
        params={"match[version]": "all", "limit": "2"},
    )
    assert everything.json()["more"] is True
    assert len(valid_objects(everything.json())) == 2


def test_more_next_and_empty_results(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    publish(server, member, [indicator() for _ in range(3)])
    total = len(get(server, OBJECTS, member.token).json()["objects"])

    truncated = get(server, OBJECTS, member.token, params={"limit": str(total - 1)}).json()
    assert truncated["more"] is True and isinstance(truncated["next"], str)
    assert len(truncated["objects"]) == total - 1
    exact = get(server, OBJECTS, member.token, params={"limit": str(total)}).json()
    assert exact["more"] is False and "next" not in exact
    assert len(exact["objects"]) == total

    for path, params in (
        (OBJECTS, {"match[type]": "campaign"}),
        (OBJECTS, {"added_after": "2999-01-01T00:00:00Z"}),
        (MANIFEST, {"match[type]": "campaign"}),
        (MANIFEST, {"match[id]": f"indicator--{uuid.uuid4()}"}),
        ("collections/public/objects/", {"match[type]": "indicator"}),
    ):
        response = get(server, path, member.token, params=params)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == TAXII
        body = response.json()
        assert "objects" not in body
        assert body.get("more", False) is False
        assert "next" not in body


# --- stateless cursors -----------------------------------------------------------------------


def test_next_cursor_survives_a_restart(restartable: Restartable, make_member: Any) -> None:
    live = restartable.live
    assert live is not None
    member = make_member()
    publish(live, member, [indicator() for _ in range(4)])
    everything = [o["id"] for o in get(live, OBJECTS, member.token).json()["objects"]]
    first = get(live, OBJECTS, member.token, params={"limit": "3"}).json()
    manifest_first = get(live, MANIFEST, member.token, params={"limit": "3"}).json()
    assert first["more"] and manifest_first["more"]

    live = restartable.restart()
    rest: list[str] = []
    cursor = first["next"]
    while cursor:
        page = get(live, OBJECTS, member.token, params={"limit": "3", "next": cursor}).json()
        rest.extend(o["id"] for o in valid_objects(page))
        cursor = page.get("next")
    assert [o["id"] for o in first["objects"]] + rest == everything
    page = get(
        live, MANIFEST, member.token, params={"limit": "100", "next": manifest_first["next"]}
    ).json()
    assert [m["id"] for m in manifest_first["objects"] + page["objects"]] == everything

    # A cursor is bound to its reader, across restarts as well.
    other = make_member()
    response = get(live, OBJECTS, other.token, params={"next": first["next"]})
    assert_taxii_error(response, 400)


def test_error_bodies_never_echo_credentials(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    secret = member.token + "zz"
    for collection in ("bulletins", "public"):
        response = get(server, f"collections/{collection}/objects/", secret)
        assert_taxii_error(response, 401)
        assert secret not in response.text
    status = post_objects(server, member.token, [{"type": "indicator"}])
    assert status["failure_count"] == 1
    assert member.token not in json.dumps(failures(status))
