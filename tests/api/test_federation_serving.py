"""The serving side of federation (docs/federation.md): a peer exchange is a member of kind
``exchange``, and what it may read is decided by the sharing rules (docs/sharing.md): TLP:CLEAR,
TLP:GREEN only when registered ``--share green``, AMBER where the audience matches it
(``group:`` entries never do), never AMBER+STRICT or RED. Every read path is asked, on
SQLite and on PostgreSQL, and each must show a peer exactly that and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.conftest import get, post_objects, successes
from tests.api.test_stream import session, stream
from tests.conftest import (
    STORES,
    TLP,
    LiveServer,
    audience_marking,
    cli_json,
    fresh_database,
    indicator,
    register_member,
    relationship,
    run_cli,
)

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@dataclass
class Peer:
    id: str
    identity: str
    token: str


def register_peer(db: str, name: str, economy: str, share: str | None = None) -> Peer:
    flags = ["--share", share] if share else []
    m = cli_json(
        "admin", "member", "add", "--db", db, "--name", name, "--kind", "exchange",
        "--sector", "government", "--economy", economy, *flags,
    )  # fmt: skip
    t = cli_json("admin", "token", "issue", m["id"], "--db", db, "--read-only")
    return Peer(m["id"], m["identity"], t["token"])


@dataclass
class World:
    cert: TestMember
    green_peer: Peer  # economy MY, --share green, in the group "grid"
    clear_peer: Peer  # economy SG, default share
    published: dict[str, dict[str, Any]]  # name -> object


def publish_world(server: LiveServer, db: str, tmp: Path) -> World:
    cert = register_member(db, tmp, "CERT-MY", economy="MY")
    green_peer = register_peer(db, "X", "MY", "green")
    clear_peer = register_peer(db, "Z", "SG")
    cli_json("admin", "group", "create", "grid", "--db", db)
    cli_json("admin", "group", "add", "grid", green_peer.id, "--db", db)
    my = audience_marking(["economy:MY"])
    sg = audience_marking(["economy:SG"])
    grid = audience_marking(["group:grid"])
    named = audience_marking([f"member:{green_peer.identity}"])
    strict_my = audience_marking(["economy:MY", f"member:{green_peer.identity}"])
    objects = {
        "clear": indicator("clear"),
        "green": indicator("green"),
        "amber_my": indicator("amber", (my["id"],)),
        "green_my": indicator("green", (my["id"],)),
        "amber_sg": indicator("amber", (sg["id"],)),
        "clear_sg": indicator("clear", (sg["id"],)),
        "amber_grid": indicator("amber", (grid["id"],)),
        "amber_named": indicator("amber", (named["id"],)),
        "strict_my": indicator("amber+strict", (strict_my["id"],)),
        "red_named": indicator("red", (named["id"],)),
    }
    # a CLEAR relationship whose end is RED: withheld from whoever may not read the end
    objects["rel_to_red"] = relationship(
        objects["clear"]["id"], objects["red_named"]["id"], "clear"
    )
    markings = {"m_my": my, "m_sg": sg, "m_grid": grid, "m_named": named, "m_strict": strict_my}
    everything = {**markings, **objects}
    signed = {k: cert.sign(v) for k, v in everything.items()}
    status = post_objects(server, cert.token, list(signed.values()))
    assert successes(status) == {o["id"] for o in signed.values()}, status
    return World(cert, green_peer, clear_peer, signed)


# What each peer may read of what CERT-MY published: markings only through objects it reads.
GREEN_PEER_READS = {"clear", "green", "amber_my", "green_my", "amber_named", "m_my", "m_named"}
CLEAR_PEER_READS = {"clear", "amber_sg", "clear_sg", "m_sg"}


def names(world: World, ids: set[str]) -> set[str]:
    by_id = {o["id"]: k for k, o in world.published.items()}
    return {by_id[i] for i in ids if i in by_id}


def all_pages(server: LiveServer, token: str, path: str, key: str, **params: str) -> list[Any]:
    out: list[Any] = []
    query: dict[str, str] = {"limit": "3", **params}
    while True:
        r = get(server, path, token, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body.get(key, []))
        if not body.get("more"):
            return out
        query = {**query, "next": body["next"]}


def stream_ids(server: LiveServer, token: str) -> set[str]:
    async def collect() -> set[str]:
        seen: set[str] = set()
        async with session() as http, stream(http, server, token, params={"from": "start"}) as sse:
            with contextlib.suppress(TimeoutError):
                while True:
                    seen.add((await sse.next(1.5)).object["id"])
        return seen

    return asyncio.run(collect())


def tlp_of(obj: dict[str, Any]) -> str | None:
    by_id = {v: k for k, v in TLP.items()}
    return next((by_id[m] for m in obj.get("object_marking_refs", []) if m in by_id), None)


def test_a_peer_reads_what_the_sharing_rules_let_leave_on_every_read_path(
    server: LiveServer, db_url: str, tmp_path: Path
) -> None:
    world = publish_world(server, db_url, tmp_path)
    for peer, expected in (
        (world.green_peer, GREEN_PEER_READS),
        (world.clear_peer, CLEAR_PEER_READS),
    ):
        for version in ("all", "first", "last"):
            objs = all_pages(server, peer.token, OBJECTS, "objects", **{"match[version]": version})
            assert names(world, {o["id"] for o in objs}) == expected, (peer, version)
            # nothing of anyone else's either: never AMBER+STRICT or RED, GREEN only if shared
            for o in objs:
                assert tlp_of(o) not in ("amber+strict", "red")
                if peer is world.clear_peer:  # no GREEN: nothing names economy:SG in GREEN
                    assert tlp_of(o) != "green", o
        manifest = all_pages(
            server, peer.token, "collections/bulletins/manifest/", "objects",
            **{"match[version]": "all"},
        )  # fmt: skip
        assert names(world, {o["id"] for o in manifest}) == expected
        for name, obj in world.published.items():
            by_id = get(server, f"{OBJECTS}{obj['id']}/", peer.token)
            versions = get(server, f"{OBJECTS}{obj['id']}/versions/", peer.token)
            head = get(server, "log/", peer.token).json()
            proof = get(
                server,
                "log/inclusion/",
                peer.token,
                params={
                    "id": obj["id"],
                    "version": obj.get("modified", obj["created"]),
                    "tree_size": head["tree_size"],
                },
            )
            wanted = 200 if name in expected else 404
            assert (by_id.status_code, versions.status_code, proof.status_code) == (
                wanted,
                wanted,
                wanted,
            ), (peer, name)
        assert names(world, stream_ids(server, peer.token)) == expected


def test_a_local_member_still_reads_what_a_peer_may_not(
    server: LiveServer, db_url: str, tmp_path: Path
) -> None:
    world = publish_world(server, db_url, tmp_path)
    local = register_member(db_url, tmp_path, "Bank-MY", economy="MY")
    cli_json("admin", "group", "add", "grid", local.id, "--db", db_url)
    objs = all_pages(server, local.token, OBJECTS, "objects")
    assert {"clear", "green", "amber_my", "green_my", "amber_grid", "strict_my"} <= names(
        world, {o["id"] for o in objs}
    )
    # the relationship's RED end is readable by nobody but the peer it names and the author
    assert "rel_to_red" not in names(world, {o["id"] for o in objs})


def test_explain_names_the_home_rule(server: LiveServer, db_url: str, tmp_path: Path) -> None:
    world = publish_world(server, db_url, tmp_path)
    strict = world.published["red_named"]["id"]
    out = cli_json("admin", "explain", strict, world.green_peer.id, "--db", db_url)
    assert (out["allowed"], out["rule"]) == (False, "home"), out


def test_share_is_for_peer_exchanges_only(db_url: str) -> None:
    code, _, err = run_cli(
        "admin", "member", "add", "--db", db_url, "--name", "B", "--kind", "private",
        "--sector", "financial-services", "--economy", "MY", "--share", "green",
    )  # fmt: skip
    assert code == 1 and "--share is for peer exchanges" in err
    m = cli_json(
        "admin", "member", "add", "--db", db_url, "--name", "P", "--kind", "exchange",
        "--sector", "government", "--economy", "MY",
    )  # fmt: skip
    assert (m["kind"], m["share"]) == ("exchange", "clear")


def test_a_peer_token_cannot_post(server: LiveServer, db_url: str) -> None:
    peer = register_peer(db_url, "X", "MY", "green")
    t = cli_json("admin", "token", "issue", peer.id, "--db", db_url)  # read-write asked for
    r = get(server, "collections/", t["token"])
    assert r.status_code == 200
    assert all(not c["can_write"] for c in r.json()["collections"])
