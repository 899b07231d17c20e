"""`GET /api/v1/log/checkpoint`: the served head as a C2SP tlog-checkpoint signed note, checked
by a verifier written here from the C2SP texts (signed-note, tlog-checkpoint,
tlog-cosignature), not from the project's code."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import requests

from exchange.config import Settings
from exchange.crypto import VerifyKey
from tests.api.conftest import assert_taxii_error, bearer, get, post_objects
from tests.conftest import TAXII, LiveServer, free_port, indicator, run_cli


def parse_note(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(note text, [(key name, decoded signature)]) per c2sp.org/signed-note."""
    assert "\n\n" in text and text.endswith("\n")
    for ch in text:
        assert ch == "\n" or ord(ch) >= 0x20, "no control characters"
    split = text.rindex("\n\n")
    body, sigs = text[: split + 1], text[split + 2 :]
    out = []
    for line in sigs.splitlines():
        dash, name, blob = line.split(" ")
        assert dash == "\u2014"
        out.append((name, base64.b64decode(blob, validate=True)))
    return body, out


def key_id(name: str, kind: int, raw_public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw_public).digest()[:4]


def checkpoint(server: LiveServer, token: str | None) -> requests.Response:
    return requests.get(server.api_root + "log/checkpoint", headers=bearer(token), timeout=30)


def test_checkpoint_is_the_signed_head(server: LiveServer, make_member: Any) -> None:
    alice = make_member("alice")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    response = checkpoint(server, alice.token)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    head = get(server, "log/", alice.token).json()
    body, signatures = parse_note(response.text)
    origin, size, root, _ = body.split("\n")
    assert origin == f"127.0.0.1:{server.settings.port}/api/v1/log"
    assert int(size) == head["tree_size"] and str(int(size)) == size
    assert base64.b64decode(root) == bytes.fromhex(head["root_hash"])
    log_key = VerifyKey.from_pem(get(server, "log/key/", alice.token).json()["public_key"])
    mine = [s for n, s in signatures if n == origin and s[:4] == key_id(origin, 1, log_key.raw())]
    assert len(mine) == 1
    assert log_key.verify(mine[0][4:], body.encode())
    assert_taxii_error(checkpoint(server, None), 401)


def test_member_cosignatures_are_tlog_cosignature_lines(
    server: LiveServer, make_member: Any
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    code, out, err = run_cli(
        "verify",
        "--log",
        "--url",
        server.api_root,
        "--token",
        bob.token,
        "--cosign",
        "--key",
        str(bob.key_path),
        "--json",
    )
    assert code == 0, (out, err)
    assert json.loads(out)["cosigned"] is True
    body, signatures = parse_note(checkpoint(server, alice.token).text)
    origin = body.split("\n")[0]
    name = f"{origin}/members/{bob.id}"
    raw = bob.key.public.raw()
    lines = [s for n, s in signatures if n == name and s[:4] == key_id(name, 4, raw)]
    assert len(lines) == 1
    stamp = int.from_bytes(lines[0][4:12], "big")
    message = f"cosignature/v1\ntime {stamp}\n".encode() + body.encode()
    assert bob.key.public.verify(lines[0][12:], message)


def test_a_bad_checkpoint_cosignature_is_refused_whole(
    server: LiveServer, make_member: Any
) -> None:
    from exchange.crypto import b64_encode, sign_json

    alice, bob = make_member("alice"), make_member("bob")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    head = get(server, "log/", bob.token).json()
    part = {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
    good = {
        "tree_size": head["tree_size"],
        "root_hash": head["root_hash"],
        "key_id": bob.key.public.key_id,
        "signature": sign_json(bob.key, part),
    }
    for bad in (
        {"timestamp": 1, "signature": b64_encode(bob.key.sign(b"something else"))},
        {"timestamp": "1", "signature": "AAAA"},
        {"timestamp": 1, "signature": "%%"},
        {"timestamp": 2**62, "signature": b64_encode(bytes(64))},
        "x",
    ):
        response = requests.post(
            server.api_root + "log/cosignatures/",
            timeout=30,
            data=json.dumps({**good, "checkpoint": bad}),
            headers={"Accept": TAXII, **bearer(bob.token)},
        )
        assert_taxii_error(response, 400)
    assert get(server, "log/", bob.token).json()["cosignatures"] == []


def test_the_origin_is_configurable(db_url: str, make_member: Any) -> None:
    live = LiveServer(Settings(db=db_url, port=free_port(), log_origin="example.org/cti-log"))
    live.start()
    try:
        alice = make_member("alice")
        assert checkpoint(live, alice.token).text.startswith("example.org/cti-log\n")
    finally:
        live.stop()
