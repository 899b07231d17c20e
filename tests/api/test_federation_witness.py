"""Peers watch each other's logs (issue 16, step 4): X cosigns the heads of Y's log it checked,
on Y, as a witness; and Z, which pulls Y and X, compares the heads Y shows it with those X
saw (``GET federation/heads/``), so that a Y showing one log to X and another to Z (a split
view, each consistent on its own) is caught. Three exchanges on loopback, each its own
database; Y's split view is a rewriting proxy in front of Y that serves Z a head signed with
Y's own log key (the operator of Y turned hostile) over a tree that is not Y's."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exchange.crypto import SigningKey, VerifyKey, sign_json, verify_json
from exchange.timeutil import format_ts, now
from tests.api.conftest import get, post_objects, successes
from tests.api.peer_proxy import Answer, Rewrite, RewritingProxy
from tests.api.test_federation_import import ids, peer_show
from tests.api.test_federation_serving import register_peer
from tests.conftest import LiveServer, cli_json, indicator, register_member, until

SIGNED_PART = ("tree_size", "root_hash", "timestamp", "key_id")
HOP_BY_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection"}


def split_view(log_key: SigningKey) -> Rewrite:
    """``GET …/log/`` answered with a head of the real size over another root, signed with
    the peer's own log key: what a hostile peer shows one importer and not the others."""
    forged: dict[str, Any] = {}

    def rewrite(answer: Answer) -> None:
        if answer.method != "GET" or answer.path != "/api/v1/log/" or answer.status != 200:
            return
        real = json.loads(answer.body)
        if forged.get("tree_size") != real["tree_size"]:
            part = {
                "tree_size": real["tree_size"],
                "root_hash": secrets.token_hex(32),
                "timestamp": format_ts(now()),
                "key_id": log_key.public.key_id,
            }
            forged.clear()
            forged.update(part, signature=sign_json(log_key, part))
        answer.body = json.dumps({**forged, "cosignatures": []}).encode()

    return rewrite


def log_signing_key(db_file: Path) -> SigningKey:
    """The exchange's current log key, read from its database as its operator could."""
    with sqlite3.connect(db_file) as conn:
        (pem,) = conn.execute(
            "SELECT private_key FROM log_keys WHERE not_after IS NULL ORDER BY created DESC"
        ).fetchone()
    return SigningKey.from_pem(pem if isinstance(pem, bytes) else str(pem).encode())


def head_of(server: LiveServer, token: str) -> dict[str, Any]:
    r = get(server, "log/", token)
    assert r.status_code == 200, r.text
    head: dict[str, Any] = r.json()
    return head


def test_x_cosigns_the_heads_of_y_it_checked_and_z_reads_them(
    servers: Callable[[str], tuple[str, LiveServer]], tmp_path: Path
) -> None:
    y_db, y = servers("y")
    x_db, x = servers("x")
    cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
    x_on_y = register_peer(y_db, "X", "MY", "green")
    # X's log key, registered on Y for X's member: the key X cosigns with
    x_log = cli_json("admin", "log-key", "show", "--db", x_db)
    pem = tmp_path / "x-log.pem"
    pem.write_text(x_log["public_key"])
    cli_json("admin", "key", "add", x_on_y.id, "--public-key", str(pem), "--db", y_db)

    sent = cert.sign(indicator("clear"))
    assert len(successes(post_objects(y, cert.token, [sent]))) == 1
    cli_json(
        "admin", "peer", "add", "Y", "--url", y.api_root, "--token", x_on_y.token, "--db", x_db
    )
    reader = register_member(x_db, tmp_path, "Bank-MY", economy="MY")
    assert until(lambda: sent["id"] in ids(x, reader.token)), peer_show(x_db, "Y")

    # Y's head carries X's cosignature, made with X's log key over the bytes Y's key signed
    def cosigned() -> dict[str, Any] | None:
        head = head_of(y, cert.token)
        mine = [c for c in head.get("cosignatures", []) if c["member"] == x_on_y.id]
        return {**head, "mine": mine[0]} if mine else None

    head = until(cosigned)
    assert head, head_of(y, cert.token)
    assert head["mine"]["key_id"] == x_log["key_id"]
    part = {k: head[k] for k in SIGNED_PART}
    assert verify_json(VerifyKey.from_pem(x_log["public_key"]), part, head["mine"]["signature"])

    # X says which head of Y it checked: Y's own signature, no cosignatures, no names
    z_on_x = register_peer(x_db, "Z", "SG")
    seen = get(x, "federation/heads/", z_on_x.token)
    assert seen.status_code == 200, seen.text
    (y_head,) = seen.json()["heads"]
    y_log = get(y, "log/key/", cert.token).json()
    assert verify_json(
        VerifyKey.from_pem(y_log["public_key"]),
        {k: y_head[k] for k in SIGNED_PART},
        y_head["signature"],
    )
    assert set(y_head) == {*SIGNED_PART, "signature"}
    assert get(x, "federation/heads/").status_code == 401
    # X's log key, listed by Y for X's member, is not mirrored back into X's directory
    directory = get(x, "keys/", reader.token).json()["keys"]
    assert x_log["key_id"] not in {k["key_id"] for k in directory}


def test_a_split_view_of_y_is_caught_by_z_through_what_x_saw(
    servers: Callable[[str], tuple[str, LiveServer]],
    proxies: Callable[[LiveServer, Rewrite], RewritingProxy],
    tmp_path: Path,
) -> None:
    y_db, y = servers("y")
    x_db, x = servers("x")
    z_db, z = servers("z")
    cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
    x_on_y = register_peer(y_db, "X", "MY", "green")
    z_on_y = register_peer(y_db, "Z", "MY", "green")
    z_on_x = register_peer(x_db, "Z", "MY", "green")
    first = cert.sign(indicator("clear"))
    assert len(successes(post_objects(y, cert.token, [first]))) == 1

    cli_json(
        "admin", "peer", "add", "Y", "--url", y.api_root, "--token", x_on_y.token, "--db", x_db
    )
    assert until(lambda: peer_show(x_db, "Y")["peer_tree_size"] > 0), peer_show(x_db, "Y")

    # Z reaches Y only through the split view; it also pulls X, which saw Y's real log
    proxy = proxies(y, split_view(log_signing_key(tmp_path / "y.db")))
    cli_json(
        "admin", "peer", "add", "X", "--url", x.api_root, "--token", z_on_x.token, "--db", z_db
    )
    cli_json(
        "admin", "peer", "add", "Y", "--url", proxy.api_root, "--token", z_on_y.token, "--db", z_db
    )

    def caught() -> bool:
        return any(
            "forked" in p and "exchange X saw" in p for p in peer_show(z_db, "Y")["problems"]
        )

    assert until(caught), peer_show(z_db, "Y")
    assert peer_show(z_db, "Y")["imported"] == 0
    # what reached Z through X, whose checks of Y's real log passed, is there with X's proof
    reader = register_member(z_db, tmp_path, "Bank-MY", economy="MY")
    assert until(lambda: first["id"] in ids(z, reader.token)), peer_show(z_db, "X")
    proofs = get(
        z, "federation/proofs/", reader.token,
        params={"id": first["id"], "version": first["modified"]},
    ).json()["proofs"]  # fmt: skip
    assert [p["exchange"] for p in proofs] == [x.api_root]
    assert peer_show(z_db, "X")["problems"] == [], peer_show(z_db, "X")
    # and it stays caught: a new object on Y does not reach Z from Y's split view
    later = cert.sign(indicator("clear"))
    assert len(successes(post_objects(y, cert.token, [later]))) == 1
    assert until(lambda: peer_show(x_db, "Y")["imported"] >= 2)
    assert until(lambda: later["id"] in ids(z, reader.token))  # through X
    assert peer_show(z_db, "Y")["imported"] == 0
    assert caught()
