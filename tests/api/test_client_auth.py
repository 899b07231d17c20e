"""Authentication as members' tools send it: taxii2-client's TokenAuth (``Token T``), HTTP
Basic with any user name and the token as password, Bearer; and hostile Authorization bytes,
which get a TAXII 401 on every route, never a 500."""

from __future__ import annotations

import base64
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
import requests
from requests.auth import AuthBase, HTTPBasicAuth
from taxii2client.common import TokenAuth
from taxii2client.v21 import Server

from tests.api.conftest import assert_taxii_error, get
from tests.conftest import LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember


class BearerAuth(AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@pytest.fixture
def member(make_member: Any) -> TestMember:
    found: TestMember = make_member("CERT-AUTH")
    return found


def _read_bulletins(server: LiveServer, auth: AuthBase) -> list[dict[str, Any]]:
    discovery = Server(server.url + "/taxii2/", auth=auth)
    root = discovery.api_roots[0]
    found = {c.alias: c for c in root.collections}
    assert found["bulletins"].can_write
    return list(found["bulletins"].get_objects().get("objects", []))


@pytest.mark.parametrize(
    "make_auth",
    [
        pytest.param(lambda t: TokenAuth(t), id="TokenAuth"),
        pytest.param(lambda t: BearerAuth(t), id="Bearer"),
        pytest.param(lambda t: HTTPBasicAuth("analyst", t), id="Basic"),
        pytest.param(lambda t: HTTPBasicAuth("anälyst", t), id="Basic-latin1-user"),
        pytest.param(lambda t: HTTPBasicAuth(b"\xff\xfe\x80", t), id="Basic-non-utf8-user"),
        pytest.param(lambda t: HTTPBasicAuth("", t), id="Basic-empty-user"),
    ],
)
def test_taxii2_client_authenticates(
    server: LiveServer, member: TestMember, make_auth: Any
) -> None:
    obj = member.sign(indicator("green"))
    root = Server(server.url + "/taxii2/", auth=make_auth(member.token)).api_roots[0]
    bulletins = next(c for c in root.collections if c.alias == "bulletins")
    status = bulletins.add_objects(json.dumps({"objects": [obj]}))
    assert status.success_count == 1
    assert obj["id"] in [o["id"] for o in _read_bulletins(server, make_auth(member.token))]


def test_basic_user_name_bytes_do_not_matter(server: LiveServer, member: TestMember) -> None:
    """Basic with user names made of arbitrary bytes (a colon ends the user name)."""
    for user in (b"", b"x", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", "пользователь".encode()):
        raw = base64.b64encode(user + b":" + member.token.encode()).decode()
        response = get(server, "collections/bulletins/", headers={"Authorization": f"Basic {raw}"})
        assert response.status_code == 200, (user, response.text)


def test_wrong_tokens_are_refused_by_every_scheme(server: LiveServer, member: TestMember) -> None:
    wrong = member.token[:-2] + ("aa" if not member.token.endswith("aa") else "bb")
    for header in (
        f"Bearer {wrong}",
        f"Token {wrong}",
        "Basic " + base64.b64encode(f"u:{wrong}".encode()).decode(),
        "Basic " + base64.b64encode(f"{member.token}:".encode()).decode(),
        "Basic " + base64.b64encode(member.token.encode()).decode(),
        f"Digest {member.token}",
        f"Bearer {member.token} extra",
        "Bearer",
        "Token ",
    ):
        response = get(server, "collections/bulletins/", headers={"Authorization": header})
        assert_taxii_error(response, 401)


# --- hostile bytes, through a raw socket (requests and aiohttp refuse to send them) ----------

PATHS = [
    "/taxii2/",
    "/api/v1/",
    "/api/v1/collections/",
    "/api/v1/collections/bulletins/",
    "/api/v1/collections/public/objects/",
    "/api/v1/collections/bulletins/objects/",
    "/api/v1/collections/bulletins/manifest/",
    "/api/v1/collections/bulletins/objects/indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f/",
    "/api/v1/collections/bulletins/objects/indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f/versions/",
    "/api/v1/collections/bulletins/events/",
    "/api/v1/status/4a3c1d34-64a5-4d61-9c2b-6e2f3d1a0b11/",
    "/api/v1/keys/",
    "/api/v1/deliveries/",
]

HOSTILE = [
    b"Bearer \xff\xfe\xfd",
    b"Bearer \xc3\xa9t\xc3\xa9",  # valid UTF-8, not ASCII
    b"Bearer \xed\xa0\x80",  # an encoded lone surrogate
    b"Token \x80abc",
    b"Token \xe2\x82\xac",
    b"Basic \xff\xff\xff",
    b"Basic \xc3\xa9\xc3\xa9==",
    b"Basic !!!not-base64!!!",
    b"Basic dXNlcjp",  # truncated base64
    b"Basic " + base64.b64encode(b"user:\xff\xfe"),  # non-ASCII password
    b"Basic " + base64.b64encode(b"user:\xc3\xa9"),
    b"Basic " + base64.b64encode(b"\xff\xfe"),  # no colon
    b"Basic " + base64.b64encode(b"user:"),  # no password
    b"\xff\xfe \xfd",
    b"Basic",
]


def raw_request(
    server: LiveServer, method: str, path: str, authorization: bytes
) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.settings.port), timeout=30) as s:
        s.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            + b"Authorization: "
            + authorization
            + b"\r\n"
            + b"Accept: application/taxii+json;version=2.1\r\n"
            + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("authorization", HOSTILE)
def test_hostile_authorization_bytes_get_401_everywhere(
    server: LiveServer, authorization: bytes
) -> None:
    for method, path in [("GET", p) for p in PATHS] + [
        ("POST", "/api/v1/collections/bulletins/objects/"),
        ("DELETE", PATHS[7]),
    ]:
        status, headers, body = raw_request(server, method, path, authorization)
        assert status == 401, (method, path, authorization, status, body)
        assert headers["content-type"] == "application/taxii+json;version=2.1"
        assert headers.get("www-authenticate")
        error = json.loads(body)
        assert error["http_status"] == "401" and error["title"]


def test_hostile_bytes_then_a_good_request_on_the_same_server(
    server: LiveServer, member: TestMember
) -> None:
    """The server keeps answering: a hostile header harms nothing after it."""
    for authorization in HOSTILE:
        raw_request(server, "GET", "/api/v1/collections/", authorization)
    status, _, body = raw_request(
        server, "GET", "/api/v1/collections/", f"Token {member.token}".encode()
    )
    assert status == 200
    assert {c["alias"] for c in json.loads(body)["collections"]} == {"bulletins", "public"}
