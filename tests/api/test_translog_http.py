"""The transparency log over HTTP: signed heads whose root is the RFC 9162 tree of everything
stored (checked with the recursive reference in tests/merkle_ref.py), proofs, members only,
400s for bad parameters, inclusion withheld exactly like the object, cosignatures."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import requests

from exchange.config import Settings
from exchange.crypto import VerifyKey, sign_json, verify_json
from exchange.store.sqlite import SqliteStore
from tests.api.conftest import (
    assert_taxii_error,
    bearer,
    get,
    later,
    objects_url,
    post_objects,
    restricted,
    walk,
)
from tests.conftest import (
    TAXII,
    TLP,
    LiveServer,
    audience_marking,
    cli_json,
    free_port,
    indicator,
    relationship,
)
from tests.merkle_ref import jcs, ref_k, ref_leaf, ref_mth, ref_node, ref_path, ref_subproof


def ref_root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """The root an audit path gives, by the recursion of RFC 9162's PATH (leaf side first)."""
    if n == 1:
        assert not path
        return leaf
    k = ref_k(n)
    if m < k:
        return ref_node(ref_root_from_path(leaf, m, k, path[:-1]), path[-1])
    return ref_node(path[-1], ref_root_from_path(leaf, m - k, n - k, path[:-1]))


def everything(server: LiveServer, token: str) -> list[dict[str, Any]]:
    """Every object version a member reads, in date_added (= log) order."""
    pages, params = [], {"match[version]": "all", "limit": "1000"}
    while True:
        page = get(server, "collections/bulletins/objects/", token, params).json()
        pages.append(page)
        if not page.get("more"):
            break
        params = {"next": page["next"]}
    return walk(pages)


def head_of(server: LiveServer, token: str) -> dict[str, Any]:
    response = get(server, "log/", token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == TAXII
    return dict(response.json())


def log_key(server: LiveServer, token: str) -> dict[str, Any]:
    return dict(get(server, "log/key/", token).json())


def signed_part(head: dict[str, Any]) -> dict[str, Any]:
    return {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}


def test_the_head_is_the_signed_tree_of_everything_stored(
    server: LiveServer, make_member: Any
) -> None:
    alice = make_member("alice")
    post_objects(server, alice.token, [alice.sign(indicator("green")) for _ in range(5)])
    head = head_of(server, alice.token)
    assert set(head) == {
        "tree_size",
        "root_hash",
        "timestamp",
        "key_id",
        "signature",
        "cosignatures",
    }
    key = log_key(server, alice.token)
    assert head["key_id"] == key["key_id"] and key["history"] == []
    public = VerifyKey.from_pem(key["public_key"])
    assert public.key_id == key["key_id"]
    assert verify_json(public, signed_part(head), head["signature"])
    objects = everything(server, alice.token)
    # the exchange's own identity, its definitions and alice's identity are leaves too
    assert {o["type"] for o in objects} >= {"identity", "extension-definition", "indicator"}
    assert head["tree_size"] == len(objects)
    assert head["root_hash"] == ref_mth([jcs(o) for o in objects]).hex()


def test_proofs_match_the_reference(server: LiveServer, make_member: Any) -> None:
    alice = make_member("alice")
    post_objects(server, alice.token, [alice.sign(indicator("clear")) for _ in range(3)])
    old = head_of(server, alice.token)
    post_objects(server, alice.token, [alice.sign(indicator("green")) for _ in range(4)])
    new = head_of(server, alice.token)
    objects = everything(server, alice.token)
    leaves = [jcs(o) for o in objects]
    assert new["tree_size"] == len(leaves) > old["tree_size"]
    for index, obj in enumerate(objects):
        version = obj.get("modified") or obj.get("created")
        response = get(
            server,
            "log/inclusion/",
            alice.token,
            {"id": obj["id"], "version": version, "tree_size": new["tree_size"]},
        )
        assert response.status_code == 200, response.text
        proof = response.json()
        assert proof["leaf_index"] == index and proof["tree_size"] == new["tree_size"]
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert path == ref_path(index, leaves)
        assert (
            ref_root_from_path(ref_leaf(leaves[index]), index, len(leaves), path).hex()
            == new["root_hash"]
        )
    response = get(
        server,
        "log/consistency/",
        alice.token,
        {"first": old["tree_size"], "second": new["tree_size"]},
    )
    assert response.status_code == 200, response.text
    assert [bytes.fromhex(h) for h in response.json()["proof"]] == ref_subproof(
        old["tree_size"], leaves, True
    )
    assert ref_mth(leaves[: old["tree_size"]]).hex() == old["root_hash"]


def test_the_log_is_for_members_only(server: LiveServer, make_member: Any) -> None:
    alice = make_member("alice")
    for path in (
        "log/",
        "log/key/",
        "log/inclusion/?id=x&version=y&tree_size=1",
        "log/consistency/?first=1&second=1",
    ):
        assert_taxii_error(get(server, path), 401)
        assert_taxii_error(get(server, path, "exk_not-a-token"), 401)
    response = requests.post(
        server.api_root + "log/cosignatures/",
        data=b"{}",
        timeout=30,
        headers={"Accept": TAXII, "Content-Type": "application/json"},
    )
    assert_taxii_error(response, 401)
    assert get(server, "log/", alice.token).status_code == 200


def test_bad_parameters_are_400(server: LiveServer, make_member: Any) -> None:
    alice = make_member("alice")
    obj = alice.sign(indicator("green"))
    post_objects(server, alice.token, [obj])
    size = head_of(server, alice.token)["tree_size"]
    good = {"id": obj["id"], "version": obj["modified"], "tree_size": str(size)}
    for params in (
        {k: v for k, v in good.items() if k != "id"},
        {k: v for k, v in good.items() if k != "version"},
        {k: v for k, v in good.items() if k != "tree_size"},
        {**good, "tree_size": "many"},
        {**good, "tree_size": "-1"},
        {**good, "tree_size": "0"},
        {**good, "tree_size": str(size + 1)},
        {**good, "tree_size": "1" * 40},
        {**good, "version": "yesterday"},
    ):
        body = assert_taxii_error(get(server, "log/inclusion/", alice.token, params), 400)
        assert body.get("description")
    for params in (
        {"first": "1"},
        {"second": "1"},
        {"first": "2", "second": "1"},
        {"first": "0", "second": "1"},
        {"first": "1", "second": str(size + 1)},
        {"first": "x", "second": "2"},
    ):
        assert_taxii_error(get(server, "log/consistency/", alice.token, params), 400)
    url = server.api_root + "log/inclusion/?id=a&id=b&version=v&tree_size=1"
    assert_taxii_error(
        requests.get(url, headers={"Accept": TAXII, **bearer(alice.token)}, timeout=30), 400
    )
    assert get(server, "log/inclusion/", alice.token, good).status_code == 200


def test_inclusion_is_withheld_exactly_like_the_object(
    server: LiveServer, make_member: Any
) -> None:
    alice, bob, carol = make_member("alice"), make_member("bob"), make_member("carol")
    marking, secret = restricted(alice, [f"member:{bob.identity}"])
    post_objects(server, alice.token, [marking, secret])
    size = head_of(server, alice.token)["tree_size"]
    params = {"id": secret["id"], "version": secret["modified"], "tree_size": str(size)}
    by_id = f"collections/bulletins/objects/{secret['id']}/"
    for reader in (alice, bob):
        assert (
            get(server, by_id, reader.token, {"match[version]": secret["modified"]}).status_code
            == 200
        )
        assert get(server, "log/inclusion/", reader.token, params).status_code == 200
    assert_taxii_error(get(server, by_id, carol.token, {"match[version]": secret["modified"]}), 404)
    refused = assert_taxii_error(get(server, "log/inclusion/", carol.token, params), 404)
    unknown = assert_taxii_error(
        get(
            server,
            "log/inclusion/",
            carol.token,
            {**params, "id": "indicator--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12},
        ),
        404,
    )
    assert refused["title"] == unknown["title"]  # not told apart from an object never stored
    # a version that is not stored is not in the log either
    assert_taxii_error(
        get(server, "log/inclusion/", bob.token, {**params, "version": "2001-01-01T00:00:00Z"}), 404
    )
    # deleting withdraws it from inclusion as from every read path, and keeps the leaf
    before = head_of(server, alice.token)
    deleted = requests.delete(
        objects_url(server) + secret["id"] + "/",
        timeout=30,
        headers={"Accept": TAXII, **bearer(alice.token)},
    )
    assert deleted.status_code == 200, deleted.text
    assert_taxii_error(get(server, "log/inclusion/", bob.token, params), 404)
    after = head_of(server, alice.token)
    assert (after["tree_size"], after["root_hash"]) == (before["tree_size"], before["root_hash"])


def test_cosignatures(server: LiveServer, make_member: Any) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    head = head_of(server, bob.token)
    bob_key_id = bob.key.public.key_id

    def post(body: Any, token: str = bob.token) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(
            server.api_root + "log/cosignatures/",
            data=data,
            timeout=30,
            headers={"Accept": TAXII, "Content-Type": "application/json", **bearer(token)},
        )

    good = {
        "tree_size": head["tree_size"],
        "root_hash": head["root_hash"],
        "key_id": bob_key_id,
        "signature": sign_json(bob.key, signed_part(head)),
    }
    # what must not be accepted
    wrong_bytes = dict(good, signature=sign_json(bob.key, {**signed_part(head), "tree_size": 1}))
    other_head = dict(good, root_hash="00" * 32)
    not_his_key = dict(
        good, key_id=alice.key.public.key_id, signature=sign_json(alice.key, signed_part(head))
    )
    for bad in (
        wrong_bytes,
        other_head,
        not_his_key,
        dict(good, key_id="ab" * 32),
        dict(good, signature="AAAA"),
        dict(good, tree_size="1"),
        {k: v for k, v in good.items() if k != "signature"},
        [good],
        b"not json",
        b'{"tree_size": 1, "tree_size": 2}',
    ):
        assert_taxii_error(post(bad), 400)
    assert head_of(server, bob.token)["cosignatures"] == []
    created = post(good)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "member": bob.id,
        "key_id": bob_key_id,
        "signature": good["signature"],
    }
    served = head_of(server, alice.token)
    assert served["tree_size"] == head["tree_size"]
    assert served["cosignatures"] == [created.json()]
    assert post(good).status_code == 201  # cosigning again is harmless
    assert len(head_of(server, alice.token)["cosignatures"]) == 1
    # a revoked key may no longer cosign
    cli_json("admin", "key", "revoke", bob_key_id, "--db", bob.db)
    assert_taxii_error(post(good), 400)


def test_log_key_rotation_keeps_old_heads_verifiable(
    server: LiveServer, make_member: Any, db_url: str
) -> None:
    alice = make_member("alice")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    old_head = head_of(server, alice.token)
    old_key = log_key(server, alice.token)
    rotated = cli_json("admin", "log-key", "rotate", "--db", db_url)
    assert rotated["retired"] == old_key["key_id"] != rotated["key_id"]
    shown = cli_json("admin", "log-key", "show", "--db", db_url)
    assert shown["key_id"] == rotated["key_id"]
    assert [k["key_id"] for k in shown["history"]] == [old_key["key_id"]]
    key = log_key(server, alice.token)
    assert key["key_id"] == rotated["key_id"]
    assert [(k["key_id"], k["public_key"]) for k in key["history"]] == [
        (old_key["key_id"], old_key["public_key"])
    ]
    assert key["history"][0]["not_after"]
    new_head = head_of(server, alice.token)
    assert new_head["key_id"] == rotated["key_id"]
    assert new_head["root_hash"] == old_head["root_hash"]
    assert verify_json(
        VerifyKey.from_pem(key["public_key"]), signed_part(new_head), new_head["signature"]
    )
    old_public = VerifyKey.from_pem(key["history"][0]["public_key"])
    assert verify_json(old_public, signed_part(old_head), old_head["signature"])
    assert not verify_json(old_public, signed_part(new_head), new_head["signature"])


def test_heads_are_made_while_objects_arrive(db_url: str, make_member: Any) -> None:
    """Without anyone asking for the head, a new one is signed within a few seconds."""

    live = LiveServer(Settings(db=db_url, port=free_port(), log_head_seconds=0.2))
    live.start()
    try:
        alice = make_member("alice")
        status = requests.post(
            live.api_root + "collections/bulletins/objects/",
            timeout=30,
            data=json.dumps({"objects": [alice.sign(indicator("green"))]}),
            headers={"Accept": TAXII, "Content-Type": TAXII, **bearer(alice.token)},
        )
        assert status.status_code == 202

        async def newest() -> tuple[int, int]:
            store = SqliteStore(db_url)
            await store.open()
            try:
                head = await store.log.log_head()
                return (head.tree_size if head else -1), await store.log.log_size()
            finally:
                await store.close()

        for _ in range(50):
            made, size = asyncio.run(newest())
            if made == size:
                break
            time.sleep(0.1)
        assert made == size > 0
    finally:
        live.stop()


def test_log_answers_taxii_only(server: LiveServer, make_member: Any) -> None:
    alice = make_member("alice")
    assert_taxii_error(get(server, "log/", alice.token, headers={"Accept": "text/html"}), 406)


def test_inclusion_of_an_older_version_follows_the_latest(
    server: LiveServer, make_member: Any
) -> None:
    """The latest version decides who reads every version: on the log's path too."""
    alice, bob, carol = make_member("alice"), make_member("bob"), make_member("carol")
    first = alice.sign(indicator("green"))
    post_objects(server, alice.token, [first])
    marking = alice.sign(audience_marking([f"member:{bob.identity}"]))
    later_version = dict(
        first, modified=later(1), object_marking_refs=[TLP["amber"], marking["id"]]
    )
    later_version.pop("extensions")
    post_objects(server, alice.token, [marking, alice.sign(later_version)])
    size = head_of(server, alice.token)["tree_size"]
    params = {"id": first["id"], "version": first["modified"], "tree_size": str(size)}
    assert get(server, "log/inclusion/", bob.token, params).status_code == 200
    by_id = f"collections/bulletins/objects/{first['id']}/"
    assert_taxii_error(get(server, by_id, carol.token, {"match[version]": first["modified"]}), 404)
    assert_taxii_error(get(server, "log/inclusion/", carol.token, params), 404)


def test_inclusion_of_a_relationship_needs_readable_ends(
    server: LiveServer, make_member: Any
) -> None:
    alice, bob, carol = make_member("alice"), make_member("bob"), make_member("carol")
    marking, secret = restricted(alice, [f"member:{bob.identity}"])
    public = alice.sign(indicator("green"))
    rel = alice.sign(relationship(public["id"], secret["id"]))
    post_objects(server, alice.token, [marking, secret, public, rel])
    size = head_of(server, alice.token)["tree_size"]
    params = {"id": rel["id"], "version": rel["modified"], "tree_size": str(size)}
    assert get(server, "log/inclusion/", bob.token, params).status_code == 200
    assert_taxii_error(get(server, "log/inclusion/", carol.token, params), 404)
