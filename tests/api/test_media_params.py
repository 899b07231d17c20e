"""Media-type parameters other than ``version`` (``charset=utf-8`` and the like) in ``Accept``
and ``Content-Type`` are accepted and ignored; a wrong ``version`` is still refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from tests.api.conftest import assert_taxii_error, get, post_raw
from tests.conftest import TAXII, LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

WITH_PARAMS = [
    "application/taxii+json;version=2.1;charset=utf-8",
    "application/taxii+json; charset=utf-8; version=2.1",
    'application/taxii+json;charset="UTF-8";version="2.1"',
    "application/taxii+json;charset=utf-8",
    "application/taxii+json;version=2.1;profile=x;foo=bar",
]
PATHS = [
    "/taxii2/",
    "",
    "collections/",
    "collections/bulletins/",
    "collections/bulletins/objects/",
    "collections/bulletins/manifest/",
    "keys/",
]


@pytest.fixture
def member(make_member: Any) -> TestMember:
    found: TestMember = make_member("CERT-MEDIA")
    return found


@pytest.mark.parametrize("media", WITH_PARAMS)
def test_accept_parameters_are_ignored(server: LiveServer, member: TestMember, media: str) -> None:
    for path in PATHS:
        response = get(server, path, member.token, headers={"Accept": media})
        assert response.status_code == 200, (path, media, response.text)
        assert response.headers["Content-Type"] == TAXII


@pytest.mark.parametrize("media", WITH_PARAMS)
def test_content_type_parameters_are_ignored(
    server: LiveServer, member: TestMember, media: str
) -> None:
    obj = member.sign(indicator("green"))
    response = post_raw(
        server,
        member.token,
        json.dumps({"objects": [obj]}),
        content_type=media,
        headers={"Accept": media},
    )
    assert response.status_code == 202, response.text
    assert response.json()["success_count"] == 1


def test_a_wrong_version_is_still_refused(server: LiveServer, member: TestMember) -> None:
    envelope = json.dumps({"objects": [member.sign(indicator("green"))]})
    wrong = [
        "application/taxii+json;version=2.0;charset=utf-8",
        "application/taxii+json;charset=utf-8;version=3",
        "text/plain;charset=utf-8",
    ]
    for media in wrong:
        response = get(server, "collections/", member.token, headers={"Accept": media})
        assert_taxii_error(response, 406)
    for media in [*wrong, "application/json;charset=utf-8"]:
        assert_taxii_error(post_raw(server, member.token, envelope, content_type=media), 415)


async def test_event_stream_accept_with_charset(server: LiveServer, member: TestMember) -> None:
    url = f"{server.api_root}collections/bulletins/events/"
    headers = {
        "Authorization": f"Bearer {member.token}",
        "Accept": "text/event-stream;charset=utf-8",
    }
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
