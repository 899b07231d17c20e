"""URLs without their trailing slash answer 308 to the canonical URL, query string kept, so
that clients which drop the slash (or follow a hand-typed URL) reach the resource."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.api.conftest import assert_taxii_error, bearer
from tests.conftest import TAXII, LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

SID = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
CANONICAL = [
    "/taxii2/",
    "/api/v1/",
    "/api/v1/collections/",
    "/api/v1/collections/bulletins/",
    "/api/v1/collections/bulletins/objects/",
    "/api/v1/collections/bulletins/manifest/",
    f"/api/v1/collections/bulletins/objects/{SID}/",
    f"/api/v1/collections/bulletins/objects/{SID}/versions/",
    "/api/v1/collections/bulletins/events/",
    "/api/v1/status/4a3c1d34-64a5-4d61-9c2b-6e2f3d1a0b11/",
    "/api/v1/keys/",
]


@pytest.mark.parametrize("path", CANONICAL)
def test_308_to_the_canonical_url(server: LiveServer, path: str) -> None:
    bare = path.rstrip("/")
    for query in ("", "?match%5Btype%5D=indicator&limit=5&next=abc%3D"):
        response = requests.get(server.url + bare + query, allow_redirects=False, timeout=30)
        assert response.status_code == 308, (bare, response.status_code, response.text)
        assert response.headers["Location"] == path + query


def test_following_the_redirect_reaches_the_resource(server: LiveServer, make_member: Any) -> None:
    member: TestMember = make_member("CERT-SLASH")
    headers = {"Accept": TAXII, **bearer(member.token)}
    obj = member.sign(indicator("green"))
    # POST keeps its method and body through a 308
    response = requests.post(
        server.url + "/api/v1/collections/bulletins/objects",
        data=json.dumps({"objects": [obj]}),
        headers={**headers, "Content-Type": TAXII},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.history and response.history[0].status_code == 308
    found = requests.get(
        server.url + "/api/v1/collections/bulletins/objects",
        params={"match[id]": obj["id"]},
        headers=headers,
        timeout=30,
    )
    assert found.status_code == 200
    assert [o["id"] for o in found.json()["objects"]] == [obj["id"]]


def test_unknown_paths_stay_404(server: LiveServer) -> None:
    for path in ("/api/v1/nope", "/api/v2", "/taxii", "/api/v1/collections/bulletins/objectz"):
        response = requests.get(
            server.url + path, headers={"Accept": TAXII}, timeout=30, allow_redirects=False
        )
        assert_taxii_error(response, 404)
