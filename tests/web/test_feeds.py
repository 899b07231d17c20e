"""The Atom 1.0 and JSON Feed 1.1 feeds: read with feedparser, checked against the JSON Feed
schema, stable entry ids, and conditional GET (ETag, Last-Modified, 304)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import requests
from jsonschema import Draft202012Validator

from tests.api.conftest import post_objects
from tests.conftest import LiveServer
from tests.web.helpers import report

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "assets" / "jsonfeed-1.1.schema.json").read_text()
)


def json_feed_valid(feed: dict[str, Any]) -> None:
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(feed)]
    assert not errors, errors


def whole_second(offset: float) -> str:
    """A STIX timestamp ``offset`` seconds from now, on a whole second (keys are valid from
    the moment they were made, so versions cannot be back-dated)."""
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def uuid_of(stix_id: str) -> str:
    return "urn:uuid:" + stix_id.split("--", 1)[1]


def test_atom_feed_reads_in_feedparser(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    old = a.sign(report("Old advisory", published="2026-01-01T00:00:00.000Z"))
    new = a.sign(
        report(
            "Neue Warnung <b>&</b>",
            published="2026-02-01T00:00:00.000Z",
            description="**Sofort** patchen.",
            lang="de",
        )
    )
    green = a.sign(report("Green advisory", tlp="green"))
    post_objects(server, a.token, [old, new, green])

    response = requests.get(server.url + "/feeds/atom.xml", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == [uuid_of(new["id"]), uuid_of(old["id"])]
    first = parsed.entries[0]
    assert first.title == "Neue Warnung <b>&</b>"
    assert first.link == f"{server.url}/bulletins/{new['id']}"
    assert "<strong>Sofort</strong>" in first.content[0].value
    assert first.content[0].language == "de"
    assert first.published.startswith("2026-02-01")
    assert "Green advisory" not in response.text


def test_json_feed_validates_and_matches_atom(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    one = a.sign(report("One", published="2026-01-01T00:00:00.000Z", labels=["consumers"]))
    two = a.sign(report("Two", published="2026-03-01T00:00:00.000Z", lang="fr"))
    post_objects(server, a.token, [one, two])

    response = requests.get(server.url + "/feeds/feed.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = response.json()
    json_feed_valid(feed)
    assert feed["feed_url"] == server.url + "/feeds/feed.json"
    assert [i["id"] for i in feed["items"]] == [uuid_of(two["id"]), uuid_of(one["id"])]
    assert feed["items"][0]["language"] == "fr"
    assert feed["items"][1]["tags"] == ["threat-report", "consumers"]
    atom = feedparser.parse(requests.get(server.url + "/feeds/atom.xml", timeout=30).content)
    assert [e.id for e in atom.entries] == [i["id"] for i in feed["items"]]


def test_entry_ids_stay_the_same_across_versions(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    created = whole_second(1)
    first = report(
        "Version one", published="2026-01-01T00:00:00.000Z", modified=created, created=created
    )
    post_objects(server, a.token, [a.sign(first)])
    before = requests.get(server.url + "/feeds/feed.json", timeout=30).json()["items"]
    second = dict(first, name="Version two", modified=whole_second(2))
    post_objects(server, a.token, [a.sign(second)])
    after = requests.get(server.url + "/feeds/feed.json", timeout=30).json()["items"]
    assert [i["id"] for i in after] == [i["id"] for i in before] == [uuid_of(first["id"])]
    assert after[0]["title"] == "Version two"
    assert after[0]["date_modified"].startswith(second["modified"][:19])


def test_conditional_get(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    post_objects(server, a.token, [a.sign(report("First"))])
    before = datetime.now(UTC).replace(microsecond=0)
    at: datetime | None = None
    for path in ("/feeds/atom.xml", "/feeds/feed.json"):
        url = server.url + path
        full = requests.get(url, timeout=30)
        etag, modified = full.headers["ETag"], full.headers["Last-Modified"]
        assert etag.startswith('"') and etag.endswith('"')
        # When the feeds began carrying these bulletins: the same for both feeds.
        at = at or parsedate_to_datetime(modified)
        assert parsedate_to_datetime(modified) == at
        assert before <= at <= datetime.now(UTC)
        again = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        assert (
            requests.get(url, headers={"If-None-Match": f'W/{etag}, "x"'}, timeout=30).status_code
            == 304
        )
        assert (
            requests.get(url, headers={"If-None-Match": '"other"'}, timeout=30).status_code == 200
        )
        assert (
            requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code
            == 304
        )
        earlier = format_datetime(at - timedelta(seconds=1), usegmt=True)
        assert (
            requests.get(url, headers={"If-Modified-Since": earlier}, timeout=30).status_code == 200
        )
        # feedparser revalidates with what it was given.
        assert feedparser.parse(url, etag=etag).status == 304

    post_objects(server, a.token, [a.sign(report("Second"))])
    for path in ("/feeds/atom.xml", "/feeds/feed.json"):
        url = server.url + path
        old_etag = '"' + "0" * 32 + '"'
        changed = requests.get(
            url, headers={"If-None-Match": old_etag, "If-Modified-Since": modified}, timeout=30
        )
        assert changed.status_code == 200
        assert "Second" in changed.text
        # Within the same second as the last change, Last-Modified still moves on.
        assert (
            requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code
            == 200
        )
        assert parsedate_to_datetime(changed.headers["Last-Modified"]) > parsedate_to_datetime(
            modified
        )


def test_empty_feeds_are_valid(server: LiveServer) -> None:
    feed = requests.get(server.url + "/feeds/feed.json", timeout=30).json()
    json_feed_valid(feed)
    assert feed["items"] == []
    atom = feedparser.parse(requests.get(server.url + "/feeds/atom.xml", timeout=30).content)
    assert not atom.bozo and atom.entries == []


def test_control_characters_never_break_the_feeds(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    odd = a.sign(report("Bell\u0007 and form\u000cfeed", description="Null-ish \u0001 text"))
    post_objects(server, a.token, [odd])
    atom = requests.get(server.url + "/feeds/atom.xml", timeout=30)
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[0].title == "Bell and formfeed"
    feed = requests.get(server.url + "/feeds/feed.json", timeout=30).json()
    json_feed_valid(feed)
    assert feed["items"][0]["title"] == "Bell and formfeed"
    page = requests.get(f"{server.url}/bulletins/{odd['id']}", timeout=30)
    assert page.status_code == 200 and "\u0007" not in page.text
