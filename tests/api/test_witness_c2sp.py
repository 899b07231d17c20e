"""The exchange asks C2SP tlog-witness witnesses to cosign its checkpoints. The witness here
is written from the C2SP texts (tlog-witness add-checkpoint, tlog-cosignature v1, signed-note,
RFC 9162 consistency verification), not from the project's code; only the Ed25519 primitive
comes from exchange.crypto."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
from typing import Any

import requests
from aiohttp import web

from exchange.config import Settings
from exchange.crypto import SigningKey, VerifyKey
from tests.api.conftest import get, post_objects
from tests.api.test_checkpoint_http import key_id, parse_note
from tests.conftest import LiveServer, cli_json, free_port, indicator


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def consistent(first: int, second: int, r1: bytes, r2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, as the RFC states it."""
    if first == second:
        return not proof and r1 == r2
    path = ([r1] if first & (first - 1) == 0 else []) + proof
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == r1 and sr == r2


class Witness:
    """A tlog-witness: one trusted log (origin, Ed25519 note key), its latest cosigned
    checkpoint, and an Ed25519 cosigner key."""

    def __init__(self, origin: str, log_key: VerifyKey) -> None:
        self.name = "witness.test/w1"
        self.key = SigningKey.generate()
        raw = self.key.public.raw()
        self.key_id = key_id(self.name, 4, raw)
        material = base64.b64encode(bytes([4]) + raw).decode()
        self.vkey = f"{self.name}+{self.key_id.hex()}+{material}"
        self.origin, self.log_key = origin, log_key
        self.size, self.root = 0, hashlib.sha256(b"").digest()
        self.requests: list[tuple[int, int, int]] = []  # (old, proof lines, status)
        self.lock = threading.Lock()

    async def add_checkpoint(self, request: web.Request) -> web.Response:
        text = (await request.read()).decode()
        head, _, note = text.partition("\n\n")
        lines = head.split("\n")
        old = int(lines[0].removeprefix("old "))
        proof = [base64.b64decode(x) for x in lines[1:]]
        status, answer = self.check(old, proof, note)
        self.requests.append((old, len(proof), status))
        if status == 409:
            return web.Response(status=409, text=answer, content_type="text/x.tlog.size")
        return web.Response(status=status, text=answer)

    def check(self, old: int, proof: list[bytes], note: str) -> tuple[int, str]:
        body, sigs = parse_note(note)
        origin, size_text, root_text, _ = body.split("\n")
        if origin != self.origin:
            return 404, ""
        wanted = key_id(origin, 1, self.log_key.raw())
        trusted = [s for n, s in sigs if n == origin and s[:4] == wanted]
        if not trusted or not all(self.log_key.verify(s[4:], body.encode()) for s in trusted):
            return 403, ""
        size, root = int(size_text), base64.b64decode(root_text)
        if old > size:
            return 400, ""
        with self.lock:
            if old != self.size:
                return 409, f"{self.size}\n"
            if old == 0 and proof:
                return 422, ""
            if old and not consistent(old, size, self.root, root, proof):
                return 422, ""
            self.size, self.root = size, root
        stamp = int(time.time())
        message = f"cosignature/v1\ntime {stamp}\n".encode() + body.encode()
        blob = self.key_id + stamp.to_bytes(8, "big") + self.key.sign(message)
        return 200, f"\u2014 {self.name} {base64.b64encode(blob).decode()}\n"


class Served:
    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


def witnessed_line(live: LiveServer, token: str, witness: Witness) -> tuple[int, bool]:
    """(size of the served checkpoint, whether it carries a valid cosignature of witness)."""
    text = requests.get(
        live.api_root + "log/checkpoint", timeout=30, headers={"Authorization": f"Bearer {token}"}
    ).text
    body, sigs = parse_note(text)
    for name, blob in sigs:
        if name == witness.name and blob[:4] == witness.key_id:
            stamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {stamp}\n".encode() + body.encode()
            return int(body.split("\n")[1]), witness.key.public.verify(blob[12:], message)
    return int(body.split("\n")[1]), False


def wait_for(condition: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_c2sp_witness_cosigns_each_new_checkpoint(db_url: str, make_member: Any) -> None:
    alice = make_member("alice")  # the database, and the log key, exist from here
    port = free_port()
    origin = "exchange.test/log"
    log_key = VerifyKey.from_pem(cli_json("admin", "log-key", "show", "--db", db_url)["public_key"])
    witness = Witness(origin, log_key)
    app = web.Application()
    app.router.add_post("/w/add-checkpoint", witness.add_checkpoint)
    served = Served(app)
    live = LiveServer(
        Settings(
            db=db_url,
            port=port,
            log_origin=origin,
            log_head_seconds=0.2,
            log_witnesses=[f"{witness.vkey} http://127.0.0.1:{served.port}/w"],
        )
    )
    live.start()
    try:
        post_objects(live, alice.token, [alice.sign(indicator("green"))])
        size = get(live, "log/", alice.token).json()["tree_size"]
        wait_for(lambda: witness.size == size and witnessed_line(live, alice.token, witness)[1])
        # more objects: the witness gets the new checkpoint with a consistency proof from
        # the size it cosigned, checks it and cosigns again
        post_objects(live, alice.token, [alice.sign(indicator("green")) for _ in range(5)])
        bigger = get(live, "log/", alice.token).json()["tree_size"]
        wait_for(lambda: witness.size == bigger)
        wait_for(lambda: witnessed_line(live, alice.token, witness) == (bigger, True))
        assert any(
            old == size and lines > 0 and status == 200 for old, lines, status in witness.requests
        )
        assert all(status in (200, 409) for _, _, status in witness.requests)
    finally:
        live.stop()
        served.stop()


def test_an_exchange_that_lost_the_witness_size_is_resynchronised(
    db_url: str, make_member: Any
) -> None:
    """409: the witness is at another size than the exchange thinks; the exchange takes the
    witness's size and proves consistency from there."""
    import sqlite3

    from exchange.store.sqlite import sqlite_path

    alice = make_member("alice")
    origin = "exchange.test/log"
    log_key = VerifyKey.from_pem(cli_json("admin", "log-key", "show", "--db", db_url)["public_key"])
    witness = Witness(origin, log_key)
    app = web.Application()
    app.router.add_post("/add-checkpoint", witness.add_checkpoint)
    served = Served(app)
    settings = Settings(
        db=db_url,
        port=free_port(),
        log_origin=origin,
        log_head_seconds=0.2,
        log_witnesses=[f"{witness.vkey} http://127.0.0.1:{served.port}/"],
    )
    live = LiveServer(settings)
    live.start()
    try:
        post_objects(live, alice.token, [alice.sign(indicator("green"))])
        wait_for(lambda: witness.size > 0)
        # Forget the witness's size with the exchange stopped: a witnessing round in flight
        # would otherwise write the size back over the change.
        live.stop()
        with sqlite3.connect(sqlite_path(db_url)) as conn:
            conn.execute("UPDATE log_witness_state SET tree_size = 0")
        live = LiveServer(settings.model_copy(update={"port": free_port()}))
        live.start()
        post_objects(live, alice.token, [alice.sign(indicator("green")) for _ in range(3)])
        bigger = get(live, "log/", alice.token).json()["tree_size"]
        wait_for(lambda: witness.size == bigger)
        statuses = [status for _, _, status in witness.requests]
        assert 409 in statuses and statuses[-1] == 200
        wait_for(lambda: witnessed_line(live, alice.token, witness) == (bigger, True))
    finally:
        live.stop()
        served.stop()
