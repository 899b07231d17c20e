"""Peers watch each other's logs (issue 16, step 4): X cosigns the heads of Y's log it checked,
on Y, as a witness; and Z, which pulls Y and X, compares the heads Y shows it with those X
saw (``GET federation/heads/``), so that a Y showing one log to X and another to Z (a split
view, each consistent on its own) is caught. Three exchanges on loopback, each its own
database; Y's split view is a rewriting proxy in front of Y that serves Z a head signed with
Y's own log key (the operator of Y turned hostile) over a tree that is not Y's."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exchange.crypto import SigningKey, VerifyKey, sign_json, verify_json
from exchange.timeutil import format_ts, now
from tests.api.conftest import get, post_objects, successes
from tests.api.test_federation_import import ids, peer_show
from tests.api.test_federation_serving import register_peer
from tests.conftest import LiveServer, cli_json, free_port, indicator, register_member, until

SIGNED_PART = ("tree_size", "root_hash", "timestamp", "key_id")
HOP_BY_HOP = {"content-length", "transfer-encoding", "content-encoding", "connection"}


class SplitViewProxy:
    """Forwards to Y, except that ``GET …/log/`` is answered with a head of Y's size over
    another root, signed with Y's log key: what a hostile Y would show one peer."""

    def __init__(self, upstream: LiveServer, log_key: SigningKey) -> None:
        self.upstream = upstream
        self.log_key = log_key
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.forged: dict[str, Any] | None = None

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/events/"):
            return web.Response(status=404)  # no stream: the pull polls
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                self.upstream.url + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as r,
        ):
            body = await r.read()
            kept = {k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP}
            if request.method == "GET" and request.path == "/api/v1/log/" and r.status == 200:
                real = await r.json(content_type=None)
                if self.forged is None or self.forged["tree_size"] != real["tree_size"]:
                    part = {
                        "tree_size": real["tree_size"],
                        "root_hash": secrets.token_hex(32),
                        "timestamp": format_ts(now()),
                        "key_id": self.log_key.public.key_id,
                    }
                    self.forged = {**part, "signature": sign_json(self.log_key, part)}
                return web.json_response(
                    {**self.forged, "cosignatures": []}, content_type=r.content_type
                )
            return web.Response(status=r.status, body=body, headers=kept)

    def start(self) -> None:
        self.thread.start()

        async def go() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app, shutdown_timeout=1)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)

    def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def proxies() -> Iterator[Callable[[LiveServer, SigningKey], SplitViewProxy]]:
    made: list[SplitViewProxy] = []

    def make(upstream: LiveServer, key: SigningKey) -> SplitViewProxy:
        proxy = SplitViewProxy(upstream, key)
        proxy.start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()


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
    proxies: Callable[[LiveServer, SigningKey], SplitViewProxy],
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
    proxy = proxies(y, log_signing_key(tmp_path / "y.db"))
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
