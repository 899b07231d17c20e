"""A ``next`` cursor is bound to the filters it was made for: a request that sends it with
other filters is a 400 (the same filters, spelt differently or in another order, and another
``limit`` are fine)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from taxii2client.v21 import as_pages

from tests.api.conftest import assert_taxii_error, collection, get, parse, post_objects, ts
from tests.conftest import LiveServer, indicator, relationship

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"
MANIFEST = "collections/bulletins/manifest/"


@pytest.fixture
def member(server: LiveServer, make_member: Any) -> TestMember:
    found: TestMember = make_member("CERT-CUR")
    objects = [found.sign(indicator("green")) for _ in range(5)]
    objects.append(found.sign(relationship(objects[0]["id"], objects[1]["id"])))
    post_objects(server, found.token, objects)
    return found


def _first(server: LiveServer, token: str, path: str, params: dict[str, str]) -> str:
    body = get(server, path, token, params={**params, "limit": "1"}).json()
    assert body["more"] is True
    cursor: str = body["next"]
    return cursor


@pytest.mark.parametrize("path", [OBJECTS, MANIFEST])
def test_other_filters_with_a_cursor_are_400(
    server: LiveServer, member: TestMember, path: str
) -> None:
    made_for = {"match[type]": "indicator"}
    cursor = _first(server, member.token, path, made_for)
    for other in (
        {},  # filters dropped
        {"match[type]": "relationship"},
        {"match[type]": "indicator,relationship"},
        {"match[type]": "indicator", "match[version]": "all"},
        {"match[type]": "indicator", "added_after": "2000-01-01T00:00:00Z"},
        {"match[type]": "indicator", "match[spec_version]": "2.1"},
        {
            "match[type]": "indicator",
            "match[id]": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        },
    ):
        response = get(server, path, member.token, params={**other, "next": cursor})
        body = assert_taxii_error(response, 400)
        assert "filters" in body["description"], body
    # the same filters, and another limit: the next page
    page = get(server, path, member.token, params={**made_for, "next": cursor, "limit": "2"}).json()
    assert len(page["objects"]) == 2


def test_same_filters_spelt_otherwise_are_the_same(server: LiveServer, member: TestMember) -> None:
    made_for = {
        "match[type]": "relationship,indicator",
        "added_after": "2000-01-01T00:00:00Z",
        "match[version]": "last",
    }
    cursor = _first(server, member.token, OBJECTS, made_for)
    same = {
        "match[type]": "indicator,relationship,indicator",
        "added_after": "2000-01-01T00:00:00.000000Z",
    }  # "last" is the default
    response = get(server, OBJECTS, member.token, params={**same, "next": cursor})
    assert response.status_code == 200, response.text


def test_a_cursor_without_filters_stays_unfiltered(server: LiveServer, member: TestMember) -> None:
    cursor = _first(server, member.token, OBJECTS, {})
    assert get(server, OBJECTS, member.token, params={"next": cursor}).status_code == 200
    response = get(
        server, OBJECTS, member.token, params={"next": cursor, "match[type]": "relationship"}
    )
    assert_taxii_error(response, 400)


def test_object_and_versions_endpoints(server: LiveServer, member: TestMember) -> None:
    first = indicator("green")
    stamps = [ts(parse(first["created"]) + timedelta(seconds=n)) for n in range(3)]
    post_objects(server, member.token, [member.sign(dict(first, modified=m)) for m in stamps])
    one = f"{OBJECTS}{first['id']}/"
    cursor = _first(server, member.token, one, {"match[version]": "all"})
    assert_taxii_error(get(server, one, member.token, params={"next": cursor}), 400)
    response = get(server, one, member.token, params={"next": cursor, "match[version]": stamps[0]})
    assert_taxii_error(response, 400)
    page = get(server, one, member.token, params={"next": cursor, "match[version]": "all"})
    assert len(page.json()["objects"]) == 2  # the rest (limit is not a filter)

    versions = f"{one}versions/"
    cursor = _first(server, member.token, versions, {})
    response = get(
        server, versions, member.token, params={"next": cursor, "match[spec_version]": "2.1"}
    )
    assert_taxii_error(response, 400)
    rest = get(server, versions, member.token, params={"next": cursor}).json()
    assert len(rest["versions"]) == 2


def test_taxii2_client_pages_with_its_filters(server: LiveServer, member: TestMember) -> None:
    """as_pages sends the same filters with every next: it works as before."""
    bulletins = collection(server, member.token)
    ids = [
        o["id"]
        for page in as_pages(bulletins.get_objects, per_request=2, type="indicator")
        for o in page.get("objects", [])
    ]
    assert len(ids) == 5 and len(set(ids)) == 5
