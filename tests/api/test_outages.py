"""The database goes away, or fills up, under a running exchange: clear answers, nothing
half-stored, and recovery without a restart of the server.

- PostgreSQL: the exchange reaches the server through a TCP relay that the test cuts
  (every open connection reset, new ones refused) and restores, so other users of the
  shared server are not disturbed. Meanwhile requests get 503 with ``Retry-After`` and
  ``/readyz`` says not ready; afterwards the same server process serves and stores again.
- SQLite on a small tmpfs the test mounts and fills: posts are refused with 507 and a
  message, nothing of them is stored, reads keep working, and once space is freed posts
  work again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from exchange.config import Settings
from tests.api.conftest import assert_taxii_error, get, post_objects, post_raw
from tests.conftest import (
    LiveServer,
    free_port,
    fresh_pg_schema,
    indicator,
    new_sqlite_db,
    register_member,
    until,
)


class Relay:
    """A TCP relay to PostgreSQL, on its own event loop, that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers.difference_update((writer, up_writer))

    def cut(self) -> None:
        async def _cut() -> None:
            self.open = False
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()

        asyncio.run_coroutine_threadsafe(_cut(), self.loop).result(10)

    def restore(self) -> None:
        self.open = True

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def db_url(pg_url: str) -> str:
    """``make_member`` registers members straight on the server (not through the relay)."""
    return pg_url


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = (parts.username + "@" if parts.username else "") + f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def test_postgresql_going_away_answers_503_and_heals_without_a_restart(
    pg_url: str, make_member: Any
) -> None:
    parts = urlsplit(pg_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay.start()
    member = make_member()
    live = LiveServer(
        Settings(db=through(pg_url, relay.port), port=free_port(), stream_heartbeat_seconds=1.0)
    )
    live.start()
    try:
        first = post_objects(live, member.token, [member.sign(indicator())])
        assert first["success_count"] == 1
        assert requests.get(live.url + "/readyz", timeout=10).status_code == 200
        stream = requests.get(
            live.api_root + "collections/bulletins/events/",
            stream=True,
            headers={"Authorization": f"Bearer {member.token}", "Accept": "text/event-stream"},
            timeout=30,
        )
        assert stream.status_code == 200

        relay.cut()
        # the open stream ends with `event: resume` (its next credential check fails)
        lines = []
        for line in stream.iter_lines(decode_unicode=True):
            lines.append(line)
            if line.startswith("event: resume"):
                break
        assert any(line.startswith("event: resume") for line in lines), lines
        stream.close()
        lost = member.sign(indicator())
        refused = post_raw(live, member.token, json.dumps({"objects": [lost]}))
        assert_taxii_error(refused, 503)
        assert int(refused.headers["Retry-After"]) >= 1
        read = get(live, "collections/bulletins/objects/", member.token)
        assert_taxii_error(read, 503)
        assert "Retry-After" in read.headers
        assert requests.get(live.url + "/readyz", timeout=10).status_code == 503

        relay.restore()
        assert until(lambda: requests.get(live.url + "/readyz", timeout=10).status_code == 200)
        again = post_objects(live, member.token, [lost])
        assert again["success_count"] == 1, again
        ids = {
            o["id"]
            for o in get(
                live,
                "collections/bulletins/objects/",
                member.token,
                params={"match[type]": "indicator"},
            ).json()["objects"]
        }
        assert lost["id"] in ids
    finally:
        live.stop()
        relay.stop()


# --- SQLite on a full disk -----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (root only; CI runs as root, so there it must work)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs for the full-disk test: {done.stderr!r}")
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system; return the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_posts_with_507_keeps_reads_and_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    db = new_sqlite_db(small_disk / "exchange.db")
    member = register_member(db, tmp_path, "full")
    token = member.token

    def signed(**props: Any) -> dict[str, Any]:
        return member.sign(indicator(**props))

    live = LiveServer(Settings(db=db, port=free_port()))
    live.start()
    try:
        stored = signed()
        post_objects(live, token, [stored])
        filler = fill(small_disk)
        big = [signed(description="x" * 20_000) for _ in range(20)]
        refused = post_raw(live, token, json.dumps({"objects": big}))
        assert_taxii_error(refused, 507)
        assert "disk" in refused.json()["description"]
        # reads keep working, and nothing of the refused envelope is there
        page = get(
            live, "collections/bulletins/objects/", token, params={"match[type]": "indicator"}
        )
        assert page.status_code == 200
        ids = [o["id"] for o in page.json()["objects"]]
        assert ids == [stored["id"]]

        filler.unlink()
        again = post_objects(live, token, big[:3])
        assert again["success_count"] == 3
    finally:
        live.stop()
