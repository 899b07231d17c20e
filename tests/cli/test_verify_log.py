"""`exchange verify --log`: a member's check of the transparency log, and what it catches.

The adversary here is the exchange itself (or whoever controls its database): an edited
object body, a dropped leaf, a rewritten leaf with the log recomputed and re-signed, a
rollback, and a split view (a forked head served to one member) must each make
`exchange verify --log` exit 1 with a loud message."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from exchange.config import Settings
from exchange.store import translog
from exchange.store.sqlite import SqliteStore, sqlite_path
from tests.api.conftest import get, post_objects, walk
from tests.conftest import LiveServer, free_port, indicator, run_cli


def fetch_all(server: LiveServer, token: str, path: Path) -> list[dict[str, Any]]:
    """Every object version the member reads, saved to ``path`` as a bundle."""
    pages, params = [], {"match[version]": "all", "limit": "1000"}
    while True:
        page = get(server, "collections/bulletins/objects/", token, params).json()
        pages.append(page)
        if not page.get("more"):
            break
        params = {"next": page["next"]}
    objects = walk(pages)
    path.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": "bundle--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
                "objects": objects,
            }
        )
    )
    return objects


def verify(server: LiveServer, token: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(
        "verify", *extra, "--log", "--url", server.api_root, "--token", token, "--json"
    )
    lines = out.strip().splitlines()
    assert len(lines) == 1, (out, err)
    return code, json.loads(lines[0]), err


def tamper(db_url: str, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(sqlite_path(db_url)) as conn:
        for sql, params in statements:
            conn.execute(sql, params)


def test_round_trip_state_and_inclusion(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post_objects(server, alice.token, [alice.sign(indicator("green")) for _ in range(3)])
    feed, state = tmp_path / "feed.json", tmp_path / "bob.state"
    objects = fetch_all(server, bob.token, feed)
    code, result, err = verify(server, bob.token, str(feed), "--state", str(state))
    assert code == 0, (result, err)
    assert result["problems"] == [] and result["consistent"] is True
    assert sorted(result["included"]) == sorted(o["id"] for o in objects)
    assert result["valid"] and not result["invalid"]  # the signatures are checked as well
    kept = json.loads(state.read_text())
    assert kept["head"]["tree_size"] == result["tree_size"] == len(objects)
    post_objects(server, alice.token, [alice.sign(indicator("green")) for _ in range(2)])
    code, again, _ = verify(server, bob.token, "--state", str(state))
    assert code == 0 and again["consistent"] and again["tree_size"] == len(objects) + 2
    assert json.loads(state.read_text())["head"]["tree_size"] == len(objects) + 2
    # the human form, too
    code, out, _ = run_cli(
        "verify", "--log", "--url", server.api_root, "--token", bob.token, "--state", str(state)
    )
    assert code == 0 and "consistent" in out


def test_cosign_and_witnesses(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    alice, bob, carol = make_member("alice"), make_member("bob"), make_member("carol")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    code, result, _ = verify(server, carol.token, "--witnesses", "1")
    assert code == 1 and "only 0 of the 1" in " ".join(result["problems"])
    code, result, _ = verify(server, bob.token, "--cosign", "--key", str(bob.key_path))
    assert code == 0 and result["cosigned"] is True, result
    # bob's own cosignature is no witness for bob
    code, result, _ = verify(server, bob.token, "--key", str(bob.key_path), "--witnesses", "1")
    assert code == 1 and result["cosignatures"] == []
    code, result, _ = verify(server, carol.token, "--witnesses", "1")
    assert code == 0, result
    assert result["cosignatures"] == [{"member": bob.id, "key_id": bob.key.public.key_id}]
    code, result, _ = verify(server, carol.token, "--witnesses", "2")
    assert code == 1


def test_usage_and_bad_input(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    bob = make_member("bob")
    base = ["--url", server.api_root, "--token", bob.token]
    for argv in (
        ["verify", *base],
        ["verify", "--log", "--cosign", *base],
        ["verify", "--state", "x", *base],
        ["verify", "--log", "--witnesses", "-1", *base],
    ):
        code, out, err = run_cli(*argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (argv, err)
    broken = tmp_path / "broken.state"
    broken.write_text("{nope")
    code, out, err = run_cli("verify", "--log", "--state", str(broken), *base)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "state file" in err
    assert broken.read_text() == "{nope"
    code, _, err = run_cli("verify", "--log", "--url", server.api_root, "--token", "exk_wrong")
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_an_edited_object_body_is_detected(
    server: LiveServer, make_member: Any, tmp_path: Path, db_url: str
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    target = alice.sign(indicator("green", name="original"))
    post_objects(server, alice.token, [target])
    edited = target["id"]
    text = json.dumps({**target, "name": "edited"}, separators=(",", ":"))
    tamper(db_url, ("UPDATE objects SET body = ? WHERE stix_id = ?", (text, edited)))
    feed = tmp_path / "feed.json"
    fetch_all(server, bob.token, feed)
    code, result, err = verify(server, bob.token, str(feed))
    assert code == 1
    assert any("NOT IN THE LOG" in p and edited in p for p in result["problems"])
    assert edited not in result["included"] and len(result["included"]) >= 3
    assert "ALERT" in err


def test_a_dropped_leaf_is_detected(
    server: LiveServer, make_member: Any, tmp_path: Path, db_url: str
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    target = alice.sign(indicator("green"))
    post_objects(server, alice.token, [target])
    tamper(db_url, ("DELETE FROM log_leaves WHERE stix_id = ?", (target["id"],)))
    feed = tmp_path / "feed.json"
    fetch_all(server, bob.token, feed)
    code, result, err = verify(server, bob.token, str(feed))
    assert code == 1
    assert any("MISSING LEAF" in p and target["id"] in p for p in result["problems"])
    assert "ALERT" in err and "MISSING LEAF" in err


def test_a_rewritten_leaf_is_detected(
    server: LiveServer, make_member: Any, tmp_path: Path, db_url: str
) -> None:
    """The attacker edits an object, recomputes the whole log over the edited bytes and
    signs new heads with the log key: every proof it serves is self-consistent, but not
    consistent with the head the member kept."""
    alice, bob = make_member("alice"), make_member("bob")
    target = alice.sign(indicator("green", name="original"))
    post_objects(server, alice.token, [target, alice.sign(indicator("green"))])
    state = tmp_path / "bob.state"
    assert verify(server, bob.token, "--state", str(state))[0] == 0
    kept = state.read_text()

    async def rewrite() -> None:
        store = SqliteStore(db_url)
        await store.open()
        try:
            async with store.transaction(write=True) as tx:
                body = json.dumps({**target, "name": "rewritten"}, separators=(",", ":"))
                await tx.execute(
                    "UPDATE objects SET body = ? WHERE stix_id = ?", (body, target["id"])
                )
                for table in ("log_cosignatures", "log_heads", "log_nodes", "log_leaves"):
                    await tx.execute(f"DELETE FROM {table}")
                await translog.backfill(tx)
        finally:
            await store.close()

    asyncio.run(rewrite())
    for more in range(2):  # the same size, then a larger one
        code, result, err = verify(server, bob.token, "--state", str(state))
        assert code == 1 and result["consistent"] is False, result
        assert any("FORK" in p for p in result["problems"]) and "ALERT" in err
        assert state.read_text() == kept  # the alarm repeats on the next run
        if not more:
            post_objects(server, alice.token, [alice.sign(indicator("green"))])
    # against the forged tree alone, the rewritten object is "included": only the kept head
    # (or the author's signature, here broken) gives the rewrite away
    feed = tmp_path / "feed.json"
    fetch_all(server, bob.token, feed)
    code, result, _ = verify(server, bob.token, str(feed))
    assert target["id"] in result["included"]
    assert [p for p in result["problems"] if not p.startswith("bad signature")] == []


def test_a_rollback_is_detected(
    server: LiveServer, make_member: Any, tmp_path: Path, db_url: str
) -> None:
    alice, bob = make_member("alice"), make_member("bob")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    state = tmp_path / "bob.state"
    assert verify(server, bob.token, "--state", str(state))[0] == 0
    size = json.loads(state.read_text())["head"]["tree_size"]
    tamper(
        db_url,
        ("DELETE FROM log_leaves WHERE leaf_index >= ?", (size - 1,)),
        ("DELETE FROM log_heads", ()),
    )
    code, result, err = verify(server, bob.token, "--state", str(state))
    assert code == 1 and any("ROLLBACK" in p for p in result["problems"]) and "ROLLBACK" in err


def test_a_forked_head_served_to_one_member_is_detected(
    server: LiveServer, make_member: Any, tmp_path: Path, db_url: str
) -> None:
    """A split view: the exchange serves carol a copy of its database that went another way.
    Carol alone cannot tell; as soon as she compares with bob (his kept head) or asks for
    bob's cosignature as a witness, the fork shows."""
    alice, bob, carol = make_member("alice"), make_member("bob"), make_member("carol")
    post_objects(server, alice.token, [alice.sign(indicator("green"))])
    forked_db = tmp_path / "forked.db"
    with sqlite3.connect(sqlite_path(db_url)) as src, sqlite3.connect(forked_db) as dst:
        src.backup(dst)
    fork = LiveServer(Settings(db=f"sqlite:///{forked_db}", port=free_port()))
    fork.start()
    try:
        post_objects(server, alice.token, [alice.sign(indicator("green", name="for bob"))])
        post_objects(fork, alice.token, [alice.sign(indicator("green", name="for carol"))])
        bob_state, carol_state = tmp_path / "bob.state", tmp_path / "carol.state"
        assert (
            verify(
                server, bob.token, "--state", str(bob_state), "--cosign", "--key", str(bob.key_path)
            )[0]
            == 0
        )
        code, alone, _ = verify(fork, carol.token, "--state", str(carol_state))
        assert code == 0, alone  # a split view is invisible to one member alone
        # gossip: carol checks the head she is served against the one bob kept
        gossip = tmp_path / "from-bob.state"
        gossip.write_text(bob_state.read_text())
        code, result, err = verify(fork, carol.token, "--state", str(gossip))
        assert code == 1 and any("FORK" in p for p in result["problems"]) and "ALERT" in err
        # or carol asks for a witness: bob never cosigned what she is shown
        code, result, _ = verify(fork, carol.token, "--witnesses", "1")
        assert code == 1 and result["cosignatures"] == []
        # and bob, checking the fork against his own state, sees it too
        code, result, _ = verify(fork, bob.token, "--state", str(bob_state))
        assert code == 1 and any("FORK" in p for p in result["problems"])
    finally:
        fork.stop()
