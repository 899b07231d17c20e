"""The public web pages: TLP:CLEAR bulletins newest first, search, type filter, paging, one
bulletin with what it references, the verified badge, security headers and escaping."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import requests

from tests.api.conftest import post_objects, successes
from tests.conftest import TLP, LiveServer, indicator
from tests.web.helpers import note, report


class Links(HTMLParser):
    """The bulletin links of a list page, in order, and the page's ``lang``."""

    def __init__(self) -> None:
        super().__init__()
        self.bulletins: list[str] = []
        self.lang: str | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "script":
            self.scripts += 1
        href = values.get("href") or ""
        if tag == "a" and href.startswith("/bulletins/"):
            self.bulletins.append(href.removeprefix("/bulletins/"))
        for name, value in values.items():
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.scripts += 1


def page(server: LiveServer, path: str = "/", **params: Any) -> requests.Response:
    response = requests.get(server.url + path, params=params, timeout=30)
    assert response.headers["Content-Type"].startswith("text/html")
    return response


def parsed(response: requests.Response) -> Links:
    links = Links()
    links.feed(response.text)
    return links


def test_list_newest_first_with_search_type_and_paging(
    server: LiveServer, make_member: Any
) -> None:
    a = make_member("CERT-A")
    old = a.sign(
        report(
            "Phishing wave against pensioners",
            published="2026-01-01T00:00:00.000Z",
            description="Fake tax refund mails.",
        )
    )
    new = a.sign(
        report(
            "Ransomware in small dental practices",
            published="2026-06-01T00:00:00.000Z",
            report_types=("attack-pattern",),
            description="Patch the VPN.",
        )
    )
    post_objects(server, a.token, [old, new])

    listed = page(server)
    assert listed.status_code == 200
    assert parsed(listed).bulletins == [new["id"], old["id"]]

    assert parsed(page(server, q="PENSIONERS")).bulletins == [old["id"]]
    assert parsed(page(server, q="vpn dental")).bulletins == [new["id"]]
    assert parsed(page(server, q="nothing-like-this")).bulletins == []
    assert "No bulletins match" in page(server, q="nothing-like-this").text
    assert parsed(page(server, type="attack-pattern")).bulletins == [new["id"]]
    assert parsed(page(server, type="threat-report")).bulletins == [old["id"]]

    many = [
        a.sign(report(f"Advisory {i:02d}", published=f"2026-07-{i + 1:02d}T00:00:00.000Z"))
        for i in range(25)
    ]
    post_objects(server, a.token, many)
    first = page(server)
    assert len(parsed(first).bulletins) == 20
    assert parsed(first).bulletins[0] == many[-1]["id"]
    assert 'rel="next" href="/?page=2"' in first.text
    second = parsed(page(server, page="2")).bulletins
    assert second == [m["id"] for m in reversed(many[:5])] + [new["id"], old["id"]]
    assert parsed(page(server, page="99")).bulletins == second  # past the end: the last page
    assert parsed(page(server, page="x")).bulletins == parsed(first).bulletins


def test_bulletin_page_shows_content_refs_badge_and_language(
    server: LiveServer, make_member: Any
) -> None:
    a = make_member("CERT-A")
    clear_note = a.sign(note("clear", content="Update **every** router."))
    clear_indicator = a.sign(indicator("clear", name="Bad domain"))
    bulletin = a.sign(
        report(
            "Mises à jour urgentes",
            refs=[clear_note["id"], clear_indicator["id"]],
            description="## Ce qu'il faut faire\n\nInstallez les *mises à jour*.",
            lang="fr",
        )
    )
    assert successes(post_objects(server, a.token, [clear_note, clear_indicator, bulletin])) == {
        clear_note["id"],
        clear_indicator["id"],
        bulletin["id"],
    }

    shown = page(server, f"/bulletins/{bulletin['id']}")
    assert shown.status_code == 200
    assert parsed(shown).lang == "fr"
    assert (
        "<h2>Ce qu&#39;il faut faire</h2>" in shown.text
        or "<h2>Ce qu'il faut faire</h2>" in shown.text
    )
    assert "<em>mises à jour</em>" in shown.text
    assert 'data-verified="true"' in shown.text and "Signature verified" in shown.text
    assert "TLP:CLEAR" in shown.text
    assert "Update <strong>every</strong> router." in shown.text
    assert "Bad domain" in shown.text and "198.51.100.7" in shown.text
    assert a.identity in shown.text  # the publisher (its identity is TLP:GREEN, so no name)
    assert "CERT-A" not in shown.text
    assert parsed(shown).scripts == 0

    missing = page(server, "/bulletins/report--00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert "No such bulletin" in missing.text
    assert page(server, "/bulletins/not-an-id").status_code == 404
    assert page(server, f"/bulletins/{clear_note['id']}").status_code == 404  # not a report


def test_badge_stays_verified_after_a_later_key_revocation(
    server: LiveServer, make_member: Any
) -> None:
    from tests.conftest import cli_json

    a = make_member("CERT-A")
    bulletin = a.sign(report("Signed, then the key revoked"))
    post_objects(server, a.token, [bulletin])
    assert 'data-verified="true"' in page(server, f"/bulletins/{bulletin['id']}").text
    keys = cli_json("admin", "key", "list", a.id, "--db", a.db)["keys"]
    # Revoked from a moment after the bulletin: it stays served and still verifies.
    cli_json(
        "admin", "key", "revoke", keys[0]["key_id"], "--since", "2999-01-01T00:00:00Z", "--db", a.db
    )
    assert 'data-verified="true"' in page(server, f"/bulletins/{bulletin['id']}").text


def test_html_and_script_in_bulletins_are_escaped(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    attack = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    evil = a.sign(
        report(
            attack,
            description=f'{attack}\n\n[click](javascript:alert(1)) <a href="javascript:x">y</a>',
            labels=['"><svg onload=alert(2)>'],
        )
    )
    post_objects(server, a.token, [evil])
    for response in (
        page(server, q='"><script>alert(3)</script>', type="'><script>x</script>"),
        page(server),
        page(server, f"/bulletins/{evil['id']}"),
        page(server, q="script"),
    ):
        assert response.status_code == 200
        assert "<script" not in response.text
        assert "<img" not in response.text and "<svg" not in response.text
        assert parsed(response).scripts == 0
        assert "&lt;script&gt;" in response.text


def test_security_headers(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    bulletin = a.sign(report("Headers"))
    post_objects(server, a.token, [bulletin])
    for path in (
        "/",
        f"/bulletins/{bulletin['id']}",
        "/feeds/atom.xml",
        "/feeds/feed.json",
        "/static/public.css",
        "/bulletins/report--00000000-0000-4000-8000-000000000000",
    ):
        response = requests.get(server.url + path, timeout=30)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Frame-Options"] == "DENY"
    css = requests.get(server.url + "/static/public.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_pages_need_no_token_and_show_only_clear(server: LiveServer, make_member: Any) -> None:
    a = make_member("CERT-A")
    green = a.sign(report("Green only", tlp="green"))
    clear = a.sign(report("Clear for all", refs=[green["id"]]))
    post_objects(server, a.token, [green, clear])
    listed = page(server)
    assert parsed(listed).bulletins == [clear["id"]]
    assert page(server, f"/bulletins/{green['id']}").status_code == 404
    shown = page(server, f"/bulletins/{clear['id']}").text
    assert "Green only" not in shown and green["id"] not in shown.split("object_refs")[0]
    assert TLP["green"] not in shown
