"""Federation end to end (issue 16, "Done when"): three exchanges on loopback, each its own
database (X on PostgreSQL), pulling from one another.

A CERT on Y publishes CLEAR, GREEN, AMBER (audience ``economy:MY``) and RED; X (registered on
Y with ``--share green``) and Z (default) import exactly what the rules allow, and only their
matching members read it; a member of X verifies an imported object's author signature and its
inclusion in Y's log; Y revokes a key and X withdraws what it covers; Y is stopped mid-pull and
X resumes with nothing lost or doubled; a tampered object and a forked head on Y are refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.client import parse_key_directory
from exchange.client.verify import check_object
from exchange.config import Settings
from exchange.crypto import SigningKey, VerifyKey, object_leaf_hash, sign_object, verify_json
from exchange.translog.merkle import verify_inclusion
from tests.api.conftest import get, post_objects, successes
from tests.api.test_federation_serving import register_peer
from tests.conftest import (
    LiveServer,
    audience_marking,
    cli_json,
    free_port,
    fresh_pg_schema,
    indicator,
    new_sqlite_db,
    register_member,
    run_cli,
    until,
)

OBJECTS = "collections/bulletins/objects/"
PULL = 0.3


def live(db: str, port: int | None = None) -> LiveServer:
    server = LiveServer(
        Settings(db=db, port=port or free_port(), peer_pull_seconds=PULL, log_head_seconds=0.2)
    )
    server.start()
    return server


def versions(server: LiveServer, token: str) -> list[tuple[str, str]]:
    """Every (id, version) a reader is served, all pages, duplicates kept."""
    out: list[tuple[str, str]] = []
    params: dict[str, str] = {"match[version]": "all", "limit": "1000"}
    while True:
        r = get(server, OBJECTS, token, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend((o["id"], o.get("modified", o.get("created"))) for o in body.get("objects", []))
        if not body.get("more"):
            return out
        params = {**params, "next": body["next"]}


def ids(server: LiveServer, token: str) -> set[str]:
    return {i for i, _ in versions(server, token)}


def show(db: str, name: str) -> dict[str, Any]:
    return cli_json("admin", "peer", "show", name, "--db", db)


@pytest.fixture
def pg_db() -> Iterator[str]:
    with fresh_pg_schema() as url:
        assert run_cli("admin", "migrate", "--db", url)[0] == 0
        yield url


def test_three_exchanges(tmp_path: Path, pg_db: str) -> None:
    y_db = new_sqlite_db(tmp_path / "y.db")
    z_db = new_sqlite_db(tmp_path / "z.db")
    x_db = pg_db
    y_port = free_port()
    y, x, z = live(y_db, y_port), live(x_db), live(z_db)
    try:
        # --- registration: X and Z are members of kind exchange on Y; Y of X (both ways)
        cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
        x_on_y = register_peer(y_db, "X", "MY", "green")
        z_on_y = register_peer(y_db, "Z", "SG")
        y_on_x = register_peer(x_db, "Y", "MY", "green")
        z_on_x = register_peer(x_db, "Z", "SG")
        for db, name, url, token in (
            (x_db, "Y", y.api_root, x_on_y.token),
            (z_db, "Y", y.api_root, z_on_y.token),
            (y_db, "X", x.api_root, y_on_x.token),  # Y pulls X: nothing may come back home
            (z_db, "X", x.api_root, z_on_x.token),  # Z gets Y's CLEAR twice: stored once
        ):
            cli_json("admin", "peer", "add", name, "--url", url, "--token", token, "--db", db)
        x_my = register_member(x_db, tmp_path, "Bank-MY", "private", "financial-services", "MY")
        x_de = register_member(x_db, tmp_path, "Bank-DE", "private", "financial-services", "DE")
        z_sg = register_member(z_db, tmp_path, "Bank-SG", "private", "financial-services", "SG")

        # --- Y's CERT publishes one object of each
        my = audience_marking(["economy:MY"])
        red_audience = audience_marking([f"member:{x_on_y.identity}"])
        published = {
            "clear": indicator("clear"),
            "green": indicator("green"),
            "amber": indicator("amber", (my["id"],)),
            "red": indicator("red", (red_audience["id"],)),
        }
        signed = {k: cert.sign(v) for k, v in published.items()}
        status = post_objects(
            y, cert.token, [cert.sign(my), cert.sign(red_audience), *signed.values()]
        )
        assert len(successes(status)) == 6, status
        the = {k: v["id"] for k, v in signed.items()}

        # --- X and Z import exactly what the rules allow; only matching members read it
        assert until(lambda: {the["clear"], the["green"], the["amber"]} <= ids(x, x_my.token))
        assert until(lambda: the["clear"] in ids(z, z_sg.token))
        time.sleep(4 * PULL)  # a few more pulls: nothing else arrives
        assert the["red"] not in ids(x, x_my.token)
        assert the["amber"] not in ids(x, x_de.token) and the["green"] in ids(x, x_de.token)
        on_z = ids(z, z_sg.token)
        assert the["clear"] in on_z and not {the["green"], the["amber"], the["red"]} & on_z
        assert versions(z, z_sg.token).count((the["clear"], signed["clear"]["modified"])) == 1
        assert show(z_db, "X")["problems"] == [] and show(z_db, "Y")["problems"] == []
        # nothing came back home to Y, and Y saw no problem with X
        # (Y imports X's own objects, its identities; none of its own authors' comes back)
        assert show(y_db, "X")["problems"] == [], show(y_db, "X")
        with sqlite3.connect(tmp_path / "y.db") as conn:
            came_back = conn.execute(
                "SELECT COUNT(*) FROM peer_proofs p JOIN objects o ON o.stix_id = p.stix_id"
                " WHERE o.author_identity = ?",
                (cert.identity,),
            ).fetchone()[0]
        assert came_back == 0

        # --- a member of X verifies the author's signature and the inclusion in Y's log
        r = get(x, f"{OBJECTS}{the['amber']}/", x_my.token)
        amber = r.json()["objects"][0]
        directory = parse_key_directory(get(x, "keys/", x_my.token).json())
        assert check_object(amber, directory) is None  # the author's signature, X's directory
        mirrored = {k["key_id"]: k for k in get(x, "keys/", x_my.token).json()["keys"]}
        assert mirrored[cert.key.public.key_id]["exchange"] == y.api_root
        (proof,) = get(
            x, "federation/proofs/", x_my.token,
            params={"id": amber["id"], "version": amber["modified"]},
        ).json()["proofs"]  # fmt: skip
        head = json.loads(proof["head"])
        log_key = VerifyKey.from_pem(proof["log_key"])
        signed_part = {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
        assert verify_json(log_key, signed_part, head["signature"])
        assert verify_inclusion(
            object_leaf_hash(json.dumps(amber)),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            bytes.fromhex(head["root_hash"]),
        )

        # --- Y stopped mid-pull: X resumes, nothing lost or doubled
        many = [cert.sign(indicator("clear")) for _ in range(600)]
        before = show(x_db, "Y")["imported"]
        for start in range(0, len(many), 200):
            assert len(successes(post_objects(y, cert.token, many[start : start + 200]))) == 200
        y.stop()  # X is pulling what the stream told it of
        # waited for, not slept: a loaded machine may take more than a few pull intervals
        assert until(lambda: any("unreachable" in p for p in show(x_db, "Y")["problems"]), 20)
        y = live(y_db, y_port)
        wanted = {o["id"] for o in many}
        assert until(lambda: wanted <= ids(x, x_my.token), 30), (
            show(x_db, "Y")["problems"],
            show(x_db, "Y")["cursor"],
        )
        served = versions(x, x_my.token)
        assert len(served) == len(set(served))
        assert show(x_db, "Y")["imported"] == before + len(many)

        # --- Y revokes the key: X withdraws what it covers within a pull or two
        since = signed["amber"]["modified"]
        cli_json("admin", "key", "revoke", cert.key.public.key_id, "--since", since, "--db", y_db)
        assert until(lambda: the["amber"] not in ids(x, x_my.token), 10)

        # --- a tampered object on Y is refused by X
        # a new key: the old one is revoked
        key_path = tmp_path / "k2.pem"
        cli_json("admin", "key", "generate", cert.id, "--db", y_db, "--out", str(key_path))
        key2 = SigningKey.from_pem(key_path.read_bytes())
        fresh = sign_object(
            {**indicator("clear", name="tampered"), "created_by_ref": cert.identity}, key2
        )
        assert len(successes(post_objects(y, cert.token, [fresh]))) == 1
        with sqlite3.connect(tmp_path / "y.db") as conn:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(
                "UPDATE objects SET body = replace(body, 'tampered', 'tampered!') WHERE stix_id = ?",
                (fresh["id"],),
            )
        assert until(lambda: any(fresh["id"] in p for p in show(x_db, "Y")["problems"]), 10), show(
            x_db, "Y"
        )
        assert fresh["id"] not in ids(x, x_my.token)

        # --- a forked head on Y is refused by X: the log's history rewritten
        with sqlite3.connect(tmp_path / "y.db") as conn:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("UPDATE log_nodes SET hash = randomblob(32) WHERE idx = 0")
        after_fork = sign_object({**indicator("clear"), "created_by_ref": cert.identity}, key2)
        assert len(successes(post_objects(y, cert.token, [after_fork]))) == 1
        assert until(lambda: any("forked" in p for p in show(x_db, "Y")["problems"]), 10), show(
            x_db, "Y"
        )
        time.sleep(3 * PULL)
        assert after_fork["id"] not in ids(x, x_my.token)
    finally:
        for server in (x, z, y):
            server.stop()
