"""Hostile input (issue "Hostile input and hostile clients"), reproduced through HTTP against a
live exchange, on SQLite and on PostgreSQL: deep nesting, lone surrogates, non-ASCII digits,
padded signature extensions, a forged Host header. Each gets a clear 4xx (or the one object is
refused in the status), never a 500, and nothing is half-stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exchange.config import Settings
from exchange.crypto import SIGNATURE_EXTENSION_ID
from tests.api.conftest import (
    assert_taxii_error,
    failures,
    get,
    post_objects,
    post_raw,
    successes,
)
from tests.api.test_stream import new_members, session, stream
from tests.conftest import (
    STORES,
    TAXII,
    LiveServer,
    free_port,
    fresh_database,
    indicator,
)

OBJECTS = "collections/bulletins/objects/"
MANIFEST = "collections/bulletins/manifest/"


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """Every test here runs on both stores (a fresh schema per test on PostgreSQL)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def code_of(message: str) -> str:
    assert message.startswith("["), message
    return message[1 : message.index("]")]


def stored_ids(server: LiveServer, token: str) -> set[str]:
    """The indicators stored (the exchange's own identities and definitions aside)."""
    response = get(server, OBJECTS, token, params={"match[type]": "indicator"})
    assert response.status_code == 200, response.text
    return {o["id"] for o in response.json().get("objects", [])}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- 1. deep nesting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        nested(10_000),
        '{"objects": ' + nested(10_000) + "}",
        '{"objects": [' + nested(10_000) + "]}",
        '{"more": ' + nested(10_000) + ', "objects": []}',
        '{"objects": [{"type": "indicator", "x": ' + nested(10_000) + "}]}",
        "{" * 10_000 + "}" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ],
    ids=[
        "top",
        "objects",
        "inside-objects",
        "other-key",
        "in-an-object",
        "objects-deep",
        "keys-deep",
    ],
)
def test_json_nested_10000_deep_is_a_400(server: LiveServer, make_member: Any, body: str) -> None:
    member = make_member()
    response = post_raw(server, member.token, body)
    error = assert_taxii_error(response, 400)
    assert "deep" in error["description"]
    assert stored_ids(server, member.token) == set()


@pytest.mark.parametrize("depth", [600, 750, 900])
def test_an_object_nested_600_to_900_deep_is_refused_alone(
    server: LiveServer, make_member: Any, depth: int
) -> None:
    member = make_member()
    before, after = member.sign(indicator()), member.sign(indicator())
    deep = json.dumps(member.sign(indicator()))
    deep = deep[:-1] + ', "x_deep": ' + nested(depth) + "}"
    body = '{"objects": [' + ", ".join([json.dumps(before), deep, json.dumps(after)]) + "]}"
    response = post_raw(server, member.token, body)
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["total_count"] == 3
    assert successes(status) == {before["id"], after["id"]}
    [failure] = status["failures"]
    assert code_of(failure["message"]) == "too-deep"
    assert stored_ids(server, member.token) == {before["id"], after["id"]}
    # the status resource was saved with it
    saved = get(server, f"status/{status['id']}/", member.token)
    assert saved.status_code == 200 and saved.json()["failure_count"] == 1


# --- 2. lone surrogates; objects and their status commit together ----------------------------


@pytest.mark.parametrize("where", ["modified", "description", "key"])
def test_a_lone_surrogate_is_refused_with_a_code(
    server: LiveServer, make_member: Any, where: str
) -> None:
    member = make_member()
    good = member.sign(indicator())
    bad = member.sign(indicator())
    text = json.dumps(bad)
    if where == "modified":
        text = text.replace(
            f'"modified": "{bad["modified"]}"', f'"modified": "{bad["modified"][:-1]}\\ud800Z"'
        )
    elif where == "description":
        text = text.replace('"description": "', '"description": "\\udfff ')
    else:
        text = text[:-1] + ', "x_\\ud83d": 1}'
    assert "\\ud" in text
    body = '{"objects": [' + json.dumps(good) + ", " + text + "]}"
    response = post_raw(server, member.token, body)
    assert response.status_code == 202, response.text
    status = response.json()
    assert successes(status) == {good["id"]}
    assert [code_of(m) for m in failures(status).values()] == ["invalid-text"]
    assert failures(status).keys() == {bad["id"]}
    assert stored_ids(server, member.token) == {good["id"]}
    saved = get(server, f"status/{status['id']}/", member.token)
    assert saved.status_code == 200, saved.text
    assert saved.json()["failure_count"] == 1


def test_a_surrogate_pair_is_text(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    obj = member.sign(indicator(description="\U0001f600 emoji"))
    text = json.dumps(obj)  # ensure_ascii: the emoji as the pair \ud83d\ude00
    assert "\\ud83d\\ude00" in text
    response = post_raw(server, member.token, '{"objects": [' + text + "]}")
    assert response.status_code == 202 and response.json()["success_count"] == 1, response.text


async def test_a_failure_between_objects_and_status_leaves_neither(
    server: LiveServer, make_member: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.services.publish import PublishService

    author, reader = await new_members(make_member, 2)
    lost, later = author.sign(indicator()), author.sign(indicator())
    original = PublishService._status
    calls: list[int] = []

    def failing(self: PublishService, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected between the objects and their status")
        return original(self, *args)

    monkeypatch.setattr(PublishService, "_status", failing)
    async with session() as http, stream(http, server, reader.token) as events:
        headers = {
            "Authorization": f"Bearer {author.token}",
            "Accept": TAXII,
            "Content-Type": TAXII,
        }
        url = server.api_root + OBJECTS
        async with http.post(url, data=json.dumps({"objects": [lost]}), headers=headers) as r:
            assert r.status == 500
            error = await r.json(content_type=None)
            assert "injected" not in json.dumps(error)  # never an exception's text
        async with http.post(url, data=json.dumps({"objects": [later]}), headers=headers) as r:
            assert r.status == 202
        # the stream was never woken for the lost object: the first event is the later one
        assert (await events.next()).object["id"] == later["id"]
        await events.nothing_more(0.5)
    assert stored_ids(server, reader.token) == {later["id"]}
    manifest = get(server, MANIFEST, reader.token, params={"match[type]": "indicator"}).json()
    assert [m["id"] for m in manifest["objects"]] == [later["id"]]


# --- 4. only ASCII digits --------------------------------------------------------------------

NON_ASCII_DIGITS = ["\uff11", "\u0661", "\u0967", "1\uff10", "\u00b2"]


@pytest.mark.parametrize("digits", NON_ASCII_DIGITS)
def test_limit_takes_only_ascii_digits(server: LiveServer, make_member: Any, digits: str) -> None:
    member = make_member()
    post_objects(server, member.token, [member.sign(indicator())])
    for path in (OBJECTS, MANIFEST):
        assert_taxii_error(get(server, path, member.token, params={"limit": digits}), 400)
    assert get(server, OBJECTS, member.token, params={"limit": "1"}).status_code == 200


ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + i) for i in range(10)))


@pytest.mark.parametrize("table", [ARABIC, FULL_WIDTH], ids=["arabic-indic", "full-width"])
def test_timestamps_take_only_ascii_digits(
    server: LiveServer, make_member: Any, table: dict[int, int]
) -> None:
    member = make_member()
    obj = member.sign(indicator())
    post_objects(server, member.token, [obj])
    stamp = "2024-01-02T03:04:05.678Z"
    foreign = stamp.translate(table)
    assert foreign != stamp
    for params in (
        {"added_after": foreign},
        {"match[version]": foreign},
        {"added_after": stamp[:-6].translate(table) + stamp[-6:]},
    ):
        for path in (OBJECTS, MANIFEST, f"collections/bulletins/objects/{obj['id']}/versions/"):
            assert_taxii_error(get(server, path, member.token, params=params), 400)
    assert get(server, OBJECTS, member.token, params={"added_after": stamp}).status_code == 200
    # an object whose modified is in other digits is refused as an invalid timestamp
    odd = member.sign(indicator(modified=obj["modified"].translate(table)))
    status = post_objects(server, member.token, [odd])
    assert [code_of(m) for m in failures(status).values()] in (
        ["invalid-timestamp"],
        ["invalid-stix"],
    )


async def test_cursors_and_last_event_id_take_only_ascii(
    server: LiveServer, make_member: Any
) -> None:
    member = (await new_members(make_member, 1))[0]
    for o in [member.sign(indicator()) for _ in range(3)]:
        post_objects(server, member.token, [o])
    page = get(server, OBJECTS, member.token, params={"limit": "1"}).json()
    cursor = page["next"]
    assert get(server, OBJECTS, member.token, params={"next": cursor}).status_code == 200
    for bad in (cursor + "\uff11", "\uff11" + cursor[1:], cursor.translate(FULL_WIDTH)):
        if bad == cursor:
            continue
        assert_taxii_error(get(server, OBJECTS, member.token, params={"next": bad}), 400)
    async with session() as http, stream(http, server, member.token) as events:
        start = events.last_id
    assert start is not None
    url = server.api_root + "collections/bulletins/events/"
    for bad in (start + "\u0661", "\u0661\u0662", start.translate(ARABIC) + "\uff10"):
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {member.token}"}
        response = requests.get(
            url,
            headers={**headers, "Last-Event-ID": bad.encode("utf-8").decode("latin-1")},
            timeout=30,
        )
        assert_taxii_error(response, 400)
        response = requests.get(url, headers=headers, params={"last_event_id": bad}, timeout=30)
        assert_taxii_error(response, 400)


# --- 5. the signature extension holds exactly its four fields --------------------------------


@pytest.mark.parametrize(
    "change",
    ["extra", "extra-null", "missing-alg", "missing-extension-type", "wrong-type", "not-string"],
)
def test_the_signature_extension_holds_exactly_four_fields(
    server: LiveServer, make_member: Any, change: str
) -> None:
    member = make_member()
    good = member.sign(indicator())
    bad = member.sign(indicator())
    block = bad["extensions"][SIGNATURE_EXTENSION_ID]
    if change == "extra":
        block["note"] = "approved by the minister"  # not covered by the signature
    elif change == "extra-null":
        block["x"] = None
    elif change == "missing-alg":
        del block["alg"]
    elif change == "missing-extension-type":
        del block["extension_type"]
    elif change == "wrong-type":
        block["extension_type"] = "toplevel-property-extension"
    else:
        block["key_id"] = [block["key_id"]]
    status = post_objects(server, member.token, [good, bad])
    assert successes(status) == {good["id"]}
    assert [code_of(m) for m in failures(status).values()] == ["signature-extension-invalid"]
    assert stored_ids(server, member.token) == {good["id"]}


# --- 6. discovery never trusts the Host header -----------------------------------------------


def test_discovery_ignores_the_host_header(server: LiveServer) -> None:
    for host in ("evil.example", "evil.example:443", "127.0.0.1:1", "x@evil.example"):
        response = requests.get(
            server.url + "/taxii2/", headers={"Accept": TAXII, "Host": host}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["api_roots"] == [server.api_root]
        assert body["default"] == server.api_root
        assert "evil" not in response.text


def test_discovery_uses_public_url(db_url: str) -> None:
    live = LiveServer(
        Settings(db=db_url, port=free_port(), public_url="https://taxii.example.org/")
    )
    live.start()
    try:
        response = requests.get(
            live.url + "/taxii2/", headers={"Accept": TAXII, "Host": "evil.example"}, timeout=30
        )
        assert response.json()["api_roots"] == ["https://taxii.example.org/api/v1/"]
    finally:
        live.stop()
