"""Nothing that is not TLP:CLEAR reaches the public pages or feeds, on SQLite and PostgreSQL:
GREEN and AMBER reports, a GREEN note a CLEAR report references, a withdrawn (DELETE'd)
bulletin, and a CLEAR report whose author narrowed its audience with an outbound rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.api.conftest import bearer, objects_url, post_objects, restricted, successes
from tests.conftest import (
    STORES,
    TAXII,
    LiveServer,
    audience_marking,
    cli_json,
    fresh_database,
)
from tests.web.helpers import note, report


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def everything_public(server: LiveServer, bulletin_ids: list[str]) -> str:
    """Every public page and feed as one text: the list, searches, each bulletin's page."""
    texts = [
        requests.get(server.url + path, timeout=30).text
        for path in ("/", "/?q=secret", "/?q=advisory", "/feeds/atom.xml", "/feeds/feed.json")
    ]
    for stix_id in bulletin_ids:
        texts.append(requests.get(f"{server.url}/bulletins/{stix_id}", timeout=30).text)
    return "\n".join(texts)


def test_nothing_but_clear_appears(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B", economy="FR")
    green = a.sign(report("GREEN secret advisory", tlp="green"))
    marking, _ = restricted(a, [f"member:{b.identity}"])
    amber = a.sign(report("AMBER secret advisory", tlp="amber", extra_markings=(marking["id"],)))
    clear_marking = a.sign(audience_marking([f"member:{b.identity}"]))
    clear_for_b = a.sign(
        report("CLEAR-but-audience secret advisory", extra_markings=(clear_marking["id"],))
    )
    green_note = a.sign(note("green", content="GREEN secret note content"))
    clear_note = a.sign(note("clear", content="The public advice"))
    clear = a.sign(
        report("Public advisory", refs=[green_note["id"], clear_note["id"], green["id"]])
    )
    status = post_objects(
        server,
        a.token,
        [green, marking, amber, clear_marking, clear_for_b, green_note, clear_note, clear],
    )
    assert len(successes(status)) == 8

    text = everything_public(server, [green["id"], amber["id"], clear_for_b["id"], clear["id"]])
    assert "Public advisory" in text and "The public advice" in text
    for leaked in ("GREEN secret", "AMBER secret", "CLEAR-but-audience", "GREEN secret note"):
        assert leaked not in text, leaked
    assert green_note["content"] not in text
    for hidden in (green, amber, clear_for_b):
        assert requests.get(f"{server.url}/bulletins/{hidden['id']}", timeout=30).status_code == 404
    shown = requests.get(f"{server.url}/bulletins/{clear['id']}", timeout=30).text
    assert green_note["id"] not in shown  # a referenced GREEN object is not even named


def test_withdrawn_bulletin_disappears(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    kept = a.sign(report("Kept advisory"))
    gone = a.sign(report("Withdrawn secret advisory"))
    post_objects(server, a.token, [kept, gone])
    assert "Withdrawn secret" in everything_public(server, [gone["id"]])
    first = requests.get(server.url + "/feeds/atom.xml", timeout=30)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    deleted = requests.delete(
        objects_url(server) + gone["id"] + "/",
        headers={"Accept": TAXII, **bearer(a.token)},
        timeout=30,
    )
    assert deleted.status_code == 200, deleted.text
    text = everything_public(server, [gone["id"]])
    assert "Withdrawn secret" not in text and "Kept advisory" in text
    assert requests.get(f"{server.url}/bulletins/{gone['id']}", timeout=30).status_code == 404
    # A feed reader that revalidates gets the new feed, not a 304.
    again = requests.get(
        server.url + "/feeds/atom.xml", headers={"If-None-Match": etag}, timeout=30
    )
    assert again.status_code == 200 and "Withdrawn secret" not in again.text
    # So does one that revalidates by date only: the withdrawal moved Last-Modified on.
    by_date = requests.get(
        server.url + "/feeds/feed.json", headers={"If-Modified-Since": modified}, timeout=30
    )
    assert by_date.status_code == 200 and "Withdrawn secret" not in by_date.text


def test_outbound_require_rule_keeps_clear_off_the_public_pages(
    server: LiveServer, make_member: Any
) -> None:
    a = make_member("CERT-A")
    cli_json("admin", "rules", "outbound", a.id, "require", "economy:DE", "--db", a.db)
    ruled = a.sign(report("Required-audience secret advisory"))
    post_objects(server, a.token, [ruled])
    text = everything_public(server, [ruled["id"]])
    assert "Required-audience secret" not in text
    assert requests.get(f"{server.url}/bulletins/{ruled['id']}", timeout=30).status_code == 404
