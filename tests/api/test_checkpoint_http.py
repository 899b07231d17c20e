"""`GET /api/v1/log/checkpoint`: the served head as a C2SP tlog-checkpoint signed note, checked
by a verifier written here from the C2SP texts (signed-note, tlog-checkpoint,
tlog-cosignature), not from the project's code."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import requests

from exchange.config import Settings
from exchange.crypto import VerifyKey
from tests.api.conftest import assert_taxii_error, bearer, get, post_objects
from tests.api.test_translog_http import ref_root_from_path
from tests.conftest import TAXII, LiveServer, free_port, indicator, run_cli
from tests.merkle_ref import jcs, ref_leaf


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


def verify_tlog_proof(text: str, obj: dict[str, Any], log_key: VerifyKey) -> bool:
    """An offline verifier of c2sp.org/tlog-proof@v1, from the C2SP text: the leaf is
    SHA-256(0x00 || JCS(object)); the checkpoint must carry the log's note signature; the
    audit path must lead from the leaf to the checkpoint's root."""
    head, _, note = text.partition("\n\n")
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        return False
    rest = lines[1:]
    if rest and rest[0].startswith("extra "):
        rest = rest[1:]
    if not rest[0].startswith("index "):
        return False
    index = int(rest[0][len("index ") :])
    path = [base64.b64decode(line, validate=True) for line in rest[1:]]
    body, signatures = parse_note(note)
    origin, size, root, _ = body.split("\n")
    wanted = key_id(origin, 1, log_key.raw())
    if not any(
        n == origin and s[:4] == wanted and log_key.verify(s[4:], body.encode())
        for n, s in signatures
    ):
        return False
    leaf = ref_leaf(jcs(obj))
    try:
        return ref_root_from_path(leaf, index, int(size), path) == base64.b64decode(root)
    except (AssertionError, IndexError):
        return False


def test_verify_writes_tlog_proofs_that_verify_offline(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    posted = [alice.sign(indicator("green")) for _ in range(5)]
    post_objects(server, alice.token, posted)
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"objects": posted}))
    proofs = tmp_path / "proofs"
    code, out, err = run_cli(
        "verify",
        str(feed),
        "--log",
        "--url",
        server.api_root,
        "--token",
        bob.token,
        "--proof-dir",
        str(proofs),
        "--json",
    )
    assert code == 0, (out, err)
    written = json.loads(out)["proofs"]
    assert len(written) == 5 and all(p.endswith(".tlog-proof") for p in written)
    log_key = VerifyKey.from_pem(get(server, "log/key/", bob.token).json()["public_key"])
    for obj in posted:
        files = list(proofs.glob(f"{obj['id']}@*.tlog-proof"))
        assert len(files) == 1
        text = files[0].read_text()
        assert verify_tlog_proof(text, obj, log_key)
        # what the proof must not prove: other bytes, another object, another log key
        assert not verify_tlog_proof(text, {**obj, "name": "forged"}, log_key)
        assert not verify_tlog_proof(
            text, posted[0] if obj is not posted[0] else posted[1], log_key
        )
        assert not verify_tlog_proof(text, obj, bob.key.public)
    # usage: --proof-dir proves FILE's objects, so it needs FILE
    code, _, err = run_cli(
        "verify",
        "--log",
        "--url",
        server.api_root,
        "--token",
        bob.token,
        "--proof-dir",
        str(proofs),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    # a checkpoint of an earlier signed size, and of a size never signed
    size = get(server, "log/", bob.token).json()["tree_size"]
    assert checkpoint_of(server, bob.token, size).status_code == 200
    assert_taxii_error(checkpoint_of(server, bob.token, size + 1000), 404)
    assert_taxii_error(checkpoint_of(server, bob.token, "x"), 400)


def checkpoint_of(server: LiveServer, token: str, size: Any) -> requests.Response:
    return requests.get(
        server.api_root + "log/checkpoint",
        params={"tree_size": size},
        headers=bearer(token),
        timeout=30,
    )
