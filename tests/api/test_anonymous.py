"""Anonymous submission end to end (docs/privacy.md), on SQLite and on PostgreSQL: the copy a
reader gets is the exchange's, verifies against the key directory, and names nothing of its
author on any read path, the stream, the log, deliveries or statuses; an administrator finds
the author by opening the sealed record, and the opening is audited."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from exchange.client import ApiClient
from exchange.client.verify import check_object
from exchange.config import Settings
from exchange.crypto import sign_object
from tests.api.conftest import assert_stix_valid, failures, get, post_raw
from tests.api.test_sharing_leaks import every_path
from tests.api.test_stream import session, stream
from tests.conftest import (
    STORES,
    TAXII,
    TLP,
    LiveServer,
    audience_marking,
    cli_json,
    free_port,
    fresh_database,
    indicator,
    relationship,
    run_cli,
)

if TYPE_CHECKING:
    from tests.conftest import TestMember

ANONYMISED = "extension-definition--f5f0c88e-8781-48d4-afda-5568cc69516c"
OBJECTS = "collections/bulletins/objects/"


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _serve(db_url: str, delay: float) -> Iterator[LiveServer]:
    live = LiveServer(
        Settings(
            db=db_url,
            port=free_port(),
            max_content_length=256 * 1024,
            anonymous_delay_seconds=delay,
            anonymous_release_seconds=0.2,
        )
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    """Copies released at once (the timing test below uses a delay)."""
    yield from _serve(db_url, 0)


@pytest.fixture
def delayed(db_url: str) -> Iterator[LiveServer]:
    yield from _serve(db_url, 3600)


def post(
    server: LiveServer, member: TestMember, objects: list[dict[str, Any]], anonymous: str | None
) -> dict[str, Any]:
    url = server.api_root + OBJECTS + (f"?anonymous={anonymous}" if anonymous else "")
    response = requests.post(
        url,
        data=json.dumps({"objects": objects}),
        headers={
            "Accept": TAXII,
            "Content-Type": TAXII,
            "Authorization": f"Bearer {member.token}",
        },
        timeout=30,
    )
    assert response.status_code == 202, response.text
    status: dict[str, Any] = response.json()
    return status


def served(server: LiveServer, token: str, **params: str) -> list[dict[str, Any]]:
    resp = get(server, OBJECTS, token, params={"match[version]": "all", **params})
    assert resp.status_code == 200, resp.text
    objects: list[dict[str, Any]] = resp.json().get("objects", [])
    return objects


def copy_id_of(status: dict[str, Any], original_id: str) -> str:
    message = next(s["message"] for s in status["successes"] if s["id"] == original_id)
    assert message.startswith("sealed; published anonymously as "), message
    return str(message.split(" as ", 1)[1].split(" ", 1)[0])


def secrets_of(author: TestMember, original: dict[str, Any]) -> list[str]:
    """Strings a copy must not hold: whatever names or fingerprints the author and the post."""
    return [
        author.identity,
        author.id,
        author.name,
        author.key.public.key_id,
        original["id"],
        original["extensions"]["extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1"][
            "signature"
        ],
        original["created"],
        original["modified"],
    ]


def test_a_reader_verifies_the_copy_and_cannot_find_its_author(
    server: LiveServer, make_member: Any, db_url: str, tmp_path: Path
) -> None:
    author, reader = make_member(), make_member()
    original = author.sign(indicator("green", description="Seen at a water utility"))
    bundle = tmp_path / "anon.json"
    bundle.write_text(
        json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [original]})
    )
    code, out, err = run_cli(
        "publish", str(bundle), "--url", server.api_root, "--token", author.token,
        "--key", str(author.key_path), "--anonymous", "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    status = json.loads(out)
    copy_id = copy_id_of(status, original["id"])
    assert copy_id.startswith("indicator--") and copy_id != original["id"]

    # the reader gets the copy: the exchange's anonymous source's, signed with its key
    found = [o for o in served(server, reader.token) if o["id"] == copy_id]
    assert len(found) == 1
    copy = found[0]
    assert_stix_valid(copy)
    with ApiClient(server.api_root, reader.token) as api:
        directory = api.key_directory()
    assert check_object(copy, directory) is None
    key_id = copy["extensions"]["extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1"][
        "key_id"
    ]
    entry = next(k for k in directory if k.key_id == key_id)
    assert entry.identity == copy["created_by_ref"] != author.identity
    keys = get(server, "keys/", reader.token).json()["keys"]
    assert next(k for k in keys if k["key_id"] == key_id)["member"] is None  # the exchange's
    identity = served(server, reader.token, **{"match[id]": copy["created_by_ref"]})
    assert identity[0]["name"] == "Anonymous source"
    assert copy["extensions"][ANONYMISED] == {
        "extension_type": "property-extension",
        "anonymised": True,
    }
    assert copy["pattern"] == original["pattern"]
    # coarse timestamps: floored to the hour
    assert copy["created"].endswith(":00:00.000Z") and copy["modified"].endswith(":00:00.000Z")

    # nothing a reader can get names or fingerprints the author
    text = json.dumps(copy)
    for secret in secrets_of(author, original):
        assert secret not in text, secret
    for who in (reader, author):  # the original is on no path, for anyone
        assert not any(every_path(server, who.token, original["id"]).values())
    manifest = get(server, "collections/bulletins/manifest/", reader.token,
                   params={"match[id]": copy_id}).json()  # fmt: skip
    assert author.identity not in json.dumps(manifest)
    # the delivery ledger is its publisher's, and nobody publishes the copy
    for who in (reader, author):
        assert get(server, "deliveries/", who.token, params={"id": copy_id}).status_code == 404
    # the author's status resource is the author's only
    assert get(server, f"status/{status['id']}/", reader.token).status_code == 404
    assert get(server, f"status/{status['id']}/", author.token).status_code == 200
    # the public log lists leaves by hash and size only: the copy's leaf, nothing of the original
    log = get(server, "log/", reader.token).json()
    assert author.identity not in json.dumps(log)
    # explain (administrators) decides the copy like any object of the exchange's
    why = cli_json("admin", "explain", copy_id, reader.id, "--db", db_url)
    assert (
        why["allowed"]
        and author.identity not in json.dumps(why)
        and author.name not in why["reason"]
    )

    # listing sealed records names nobody; opening one does, and is audited with its reason
    listed = cli_json("admin", "sealed", "list", "--db", db_url)["sealed"]
    assert [r["copy_id"] for r in listed] == [copy_id]
    assert author.id not in json.dumps(listed) and author.identity not in json.dumps(listed)
    opened = cli_json(
        "admin", "sealed", "open", copy_id, "--reason", "court order 42", "--db", db_url
    )
    assert opened["member"] == author.id and opened["identity"] == author.identity
    assert opened["records"][0]["original"] == original
    entry_ = cli_json("admin", "audit", "--db", db_url)["entries"][-1]
    assert entry_["action"] == "sealed open"
    assert entry_["target"] == copy_id and entry_["member"] == author.id
    assert entry_["details"]["reason"] == "court order 42"
    code, _, err = run_cli("admin", "sealed", "open", copy_id, "--reason", " ", "--db", db_url)
    assert code == 1 and "reason" in err


async def test_the_copy_arrives_at_its_release_not_with_the_authors_posts(
    delayed: LiveServer, make_member: Any, db_url: str
) -> None:
    server = delayed
    author, reader = await asyncio.to_thread(make_member), await asyncio.to_thread(make_member)
    original = author.sign(indicator("green"))
    named = author.sign(indicator("green"))
    async with session() as http, stream(http, server, reader.token) as events:
        status = post(server, author, [original], "true")
        copy_id = copy_id_of(status, original["id"])
        # sealed, not published: nothing on any path or the stream yet
        assert not any(every_path(server, reader.token, copy_id).values())
        assert post(server, author, [named], "false")["success_count"] == 1
        assert (await events.next()).object["id"] == named["id"]
        await events.nothing_more(0.5)
        released = await asyncio.to_thread(
            cli_json, "admin", "sealed", "release", "--all", "--db", db_url
        )
        assert released["released"] == 1
        assert (await events.next()).object["id"] == copy_id
    # its date_added is the release's, after the author's later named post
    manifest = get(server, "collections/bulletins/manifest/", reader.token).json()["objects"]
    added = {m["id"]: m["date_added"] for m in manifest}
    assert added[copy_id] > added[named["id"]]
    # the periodic release does not publish a copy twice
    await asyncio.sleep(0.5)
    assert len([o for o in served(server, reader.token) if o["id"] == copy_id]) == 1


def test_what_cannot_be_published_anonymously_is_refused(
    server: LiveServer, make_member: Any, db_url: str
) -> None:
    author, other = make_member(), make_member()
    marking = author.sign(audience_marking([f"member:{other.identity}"]))
    post(server, author, [marking], None)
    audience = author.sign(indicator("amber", extra_markings=(marking["id"],)))
    naming = author.sign(indicator("green", description=f"Reported by {author.name} staff"))
    identity_ref = author.sign(
        indicator(
            "green",
            external_references=[{"source_name": "reporter", "external_id": author.identity}],
        )
    )
    theirs = other.sign(indicator("green"))
    post(server, other, [theirs], None)
    observable = sign_object(
        {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{uuid.uuid4()}",
         "value": "198.51.100.9", "object_marking_refs": [TLP["green"]]},
        author.key,
    )  # fmt: skip
    status = post(server, author, [audience, naming, identity_ref, theirs, observable], "true")
    got = failures(status)
    assert got[audience["id"]].startswith("[anonymous-unsupported]")
    assert got[naming["id"]].startswith("[anonymous-names-author]")
    assert got[identity_ref["id"]].startswith("[anonymous-names-author]")
    assert got[theirs["id"]].startswith("[anonymous-unsupported]")
    assert got[observable["id"]].startswith("[anonymous-unsupported]")
    assert status["success_count"] == 0
    # an author whose outbound rules narrow what it publishes is refused: the copy would
    # escape them
    cli_json("admin", "rules", "outbound", author.id, "require", "economy:DE", "--db", db_url)
    status = post(server, author, [author.sign(indicator("green"))], "true")
    assert status["failures"][0]["message"].startswith("[anonymous-outbound]")
    bad = post_raw(server, author.token, json.dumps({"objects": []}))
    assert bad.status_code == 202
    resp = requests.post(
        server.api_root + OBJECTS + "?anonymous=yes",
        data=json.dumps({"objects": []}),
        headers={"Content-Type": TAXII, "Accept": TAXII, "Authorization": f"Bearer {author.token}"},
        timeout=30,
    )
    assert resp.status_code == 400


def test_versions_and_references_stay_anonymous(server: LiveServer, make_member: Any) -> None:
    author, reader = make_member(), make_member()
    first = author.sign(indicator("green"))
    target = author.sign(indicator("green"))
    link = author.sign(relationship(first["id"], target["id"]))
    status = post(server, author, [first, target, link], "true")
    assert status["success_count"] == 3, status
    copies = {s["id"]: copy_id_of(status, s["id"]) for s in status["successes"]}
    got = {o["id"]: o for o in served(server, reader.token)}
    rel = got[copies[link["id"]]]
    assert rel["source_ref"] == copies[first["id"]] and rel["target_ref"] == copies[target["id"]]
    # a new version of an original keeps its copy's id, a later version
    second = author.sign(dict(first, modified=_later(first["modified"]), name="renamed"))
    status = post(server, author, [second], "true")
    assert copy_id_of(status, first["id"]) == copies[first["id"]]
    versions = [o for o in served(server, reader.token) if o["id"] == copies[first["id"]]]
    assert sorted(v["name"] for v in versions) == ["C2 server", "renamed"]
    assert len({v["modified"] for v in versions}) == 2
    # the same original again is "stored already"; an older version after a newer is refused
    again = post(server, author, [second], "true")
    assert again["successes"][0]["message"] == "stored already"
    older = author.sign(dict(first, modified=first["created"], name="older"))
    refused = post(server, author, [older], "true")
    assert refused["failures"][0]["message"].startswith("[version-conflict]")


def test_standing_rules_make_anonymity_the_default(
    server: LiveServer, make_member: Any, db_url: str
) -> None:
    author, reader = make_member(), make_member()
    rule = cli_json("admin", "rules", "submission", author.id, "anonymous", "--db", db_url)
    assert rule["direction"] == "submission" and rule["effect"] == "anonymous"
    default = author.sign(indicator("green"))
    named = author.sign(indicator("green"))
    status = post(server, author, [default], None)
    copy_id = copy_id_of(status, default["id"])
    assert post(server, author, [named], "false")["successes"][0].get("message") is None
    ids = {o["id"] for o in served(server, reader.token)}
    assert copy_id in ids and named["id"] in ids and default["id"] not in ids
    # the explain summary of a reader lists the anonymous source by name
    summary = cli_json("admin", "explain", reader.id, "--db", db_url)
    assert "anonymous source" in {p["name"] for p in summary["by_publisher"]}


def _later(ts: str) -> str:
    from datetime import timedelta

    from exchange.timeutil import parse_ts, stix_ts

    return stix_ts(parse_ts(ts) + timedelta(seconds=1))
