"""The importing side of federation (docs/federation.md): two or three exchanges on loopback,
each its own database, pulling from one another with ``exchange admin peer add``.

Everything is asked through public interfaces: HTTP with real clients, and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from exchange.crypto import VerifyKey, object_leaf_hash, verify_json
from exchange.translog.merkle import verify_inclusion
from tests.api.conftest import get, post_objects, successes
from tests.api.test_federation_serving import register_peer
from tests.conftest import (
    LiveServer,
    audience_marking,
    cli_json,
    indicator,
    register_member,
    run_cli,
    until,
)

OBJECTS = "collections/bulletins/objects/"


def ids(server: LiveServer, token: str) -> set[str]:
    out: set[str] = set()
    params: dict[str, str] = {"match[version]": "all"}
    while True:
        r = get(server, OBJECTS, token, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out.update(o["id"] for o in body.get("objects", []))
        if not body.get("more"):
            return out
        params = {**params, "next": body["next"]}


def peer_show(db: str, name: str) -> dict[str, Any]:
    return cli_json("admin", "peer", "show", name, "--db", db)


def test_x_imports_what_y_lets_it_read_and_its_members_verify_it(
    servers: Callable[[str], tuple[str, LiveServer]], tmp_path: Path
) -> None:
    y_db, y = servers("y")
    x_db, x = servers("x")
    cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
    on_y = register_peer(y_db, "X", "MY", "green")
    my = audience_marking(["economy:MY"])
    objs = {
        "clear": indicator("clear"),
        "green": indicator("green"),
        "amber": indicator("amber", (my["id"],)),
        "red": indicator("red", (audience_marking([f"member:{on_y.identity}"])["id"],)),
    }
    red_marking = objs["red"]["object_marking_refs"][1]
    signed = [cert.sign(my)] + [cert.sign(o) for o in objs.values()]
    signed.insert(
        1, cert.sign({**audience_marking([f"member:{on_y.identity}"]), "id": red_marking})
    )
    status = post_objects(y, cert.token, signed)
    assert len(successes(status)) == len(signed), status

    out = cli_json(
        "admin", "peer", "add", "Y", "--url", y.api_root, "--token", on_y.token, "--db", x_db
    )
    assert out["name"] == "Y" and "token" not in out
    bank = register_member(
        x_db, tmp_path, "Bank-MY", economy="MY", kind="private", sector="financial-services"
    )
    other = register_member(
        x_db, tmp_path, "Bank-DE", economy="DE", kind="private", sector="financial-services"
    )
    wanted = {objs["clear"]["id"], objs["green"]["id"], objs["amber"]["id"]}
    assert until(lambda: wanted <= ids(x, bank.token)), peer_show(x_db, "Y")
    seen = ids(x, bank.token)
    assert objs["red"]["id"] not in seen
    assert objs["amber"]["id"] not in ids(x, other.token)
    assert objs["green"]["id"] in ids(x, other.token)
    shown = peer_show(x_db, "Y")
    assert shown["imported"] >= 4 and shown["peer_tree_size"] > 0, shown
    assert on_y.token not in str(shown)

    # a member of X verifies the author's signature and the inclusion in Y's log
    amber = get(x, f"{OBJECTS}{objs['amber']['id']}/", bank.token)
    assert amber.status_code == 200
    text = amber.text
    body = amber.json()["objects"][0]
    assert body == signed[-2]  # the bytes as the author signed them
    directory = get(x, "keys/", bank.token).json()["keys"]
    mirrored = [k for k in directory if k.get("exchange") == y.api_root]
    assert cert.key.public.key_id in {k["key_id"] for k in mirrored}
    proofs = get(
        x, "federation/proofs/", bank.token,
        params={"id": body["id"], "version": body["modified"]},
    ).json()["proofs"]  # fmt: skip
    assert len(proofs) == 1 and proofs[0]["exchange"] == y.api_root
    proof = proofs[0]
    import json

    head = json.loads(proof["head"])
    log_key = VerifyKey.from_pem(proof["log_key"])
    assert verify_json(
        log_key,
        {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")},
        head["signature"],
    )
    served = get(y, "log/key/", cert.token).json()
    assert served["key_id"] == log_key.key_id
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    assert verify_inclusion(
        object_leaf_hash(raw),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(p) for p in proof["audit_path"]],
        bytes.fromhex(head["root_hash"]),
    )
    assert text  # served
    code, _, err = run_cli("admin", "peer", "remove", "Y", "--db", x_db)
    assert code == 0, err
